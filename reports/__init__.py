"""Reports: what clients and firms are sent — quarterly account statements and household
performance reports as PDF (generated in batches, kept in the household's documents), the firm's
branding on them, and the CSV/XLSX exports of the pages."""
