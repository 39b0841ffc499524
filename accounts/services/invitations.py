"""Invitations: an investor's one-time link to set a password for their login."""

from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.encoding import force_bytes, force_str
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode

from accounts.errors import AccountsError
from accounts.models import (
    Investor,
    InvestorInvitation,
    Role,
    User,
)
from accounts.services.users import user_create
from kronos.history import save_attributed

# --- Invitations ------------------------------------------------------------------------------


class InvitationTokenGenerator(PasswordResetTokenGenerator):
    """Django's password-reset tokens under a salt of their own: an invitation link is not a
    reset link. Expires after PASSWORD_RESET_TIMEOUT; works once (the hash covers the
    password, which accepting sets)."""

    key_salt = "kronos.accounts.InvestorInvitation"


invitation_token = InvitationTokenGenerator()


@transaction.atomic
def invitation_send(*, investor: Investor, acting_user: User, base_url: str) -> InvestorInvitation:
    """Email the investor a one-time link to set a password; creates their login (no usable
    password, role investor) on the first invitation. Refused without an email address or
    when another person's login already uses it."""
    investor = Investor.objects.select_for_update(of=("self",)).select_related("user", "firm").get(pk=investor.pk)
    if not investor.email:
        raise AccountsError("The investor has no email address to invite.", field="email")
    user = investor.user
    if user is None:
        if User.objects.filter(email__iexact=investor.email).exists():
            raise AccountsError(
                f"A login with the email {investor.email} already exists; it cannot be given to this investor.",
                field="email",
            )
        user = user_create(
            email=investor.email,
            password=None,
            full_name=investor.full_name,
            roles=[Role.INVESTOR],
            acting_user=acting_user,
        )
        user.set_unusable_password()
        user.save(update_fields=["password"])
        investor.user = user
        save_attributed(investor, acting_user=acting_user, reason="login created for invitation", validate=False)
    elif user.has_usable_password():
        raise AccountsError("The investor has already set a password; they can sign in.", field="email")
    invitation = InvestorInvitation(investor=investor, email=user.email, sent_by=acting_user)
    save_attributed(invitation, acting_user=acting_user, reason="invitation sent")
    path = f"/accounts/invitation/{urlsafe_base64_encode(force_bytes(user.pk))}/{invitation_token.make_token(user)}/"
    context = {"investor": investor, "firm": investor.firm, "link": base_url.rstrip("/") + path}
    body = render_to_string("accounts/invitation_email.txt", context)
    transaction.on_commit(
        lambda: send_mail(
            f"{investor.firm.name}: set up your Kronos login", body, None, [user.email], fail_silently=False
        )
    )
    return invitation


def invitation_user(uidb64: str, token: str) -> User | None:
    """The invited user the link names, when its token is still good; else None."""
    try:
        pk = int(force_str(urlsafe_base64_decode(uidb64)))
    except (TypeError, ValueError, OverflowError):
        return None
    user = User.objects.filter(pk=pk, is_active=True).first()
    if user is None or not invitation_token.check_token(user, token):
        return None
    return user


@transaction.atomic
def invitation_accept(*, user: User, password: str) -> User:
    """Set the invited user's password (validated by Django's validators); marks the latest
    invitation accepted. The link stops working: the token covered the old password."""
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise AccountsError(" ".join(exc.messages), field="password") from exc
    user.set_password(password)
    save_attributed(user, acting_user=user, reason="invitation accepted", validate=False)
    invitation = InvestorInvitation.objects.filter(investor__user=user, accepted_at__isnull=True).first()
    if invitation is not None:
        invitation.accepted_at = timezone.now()
        save_attributed(invitation, acting_user=user, reason="invitation accepted", validate=False)
    return user
