"""The Idempotency-Key header: its name and form, enforced by `kronos.idempotency` and documented
by the schema (`kronos.api.schema`), so the API package never imports the idempotency module."""

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
#: Visible ASCII, spaces only inside: what an HTTP header carries unaltered (the schema says the same).
KEY_PATTERN = r"^[!-~]([ -~]*[!-~])?$"
