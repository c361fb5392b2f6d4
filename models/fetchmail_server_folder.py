from odoo import fields, models


class FetchmailServerFolder(models.Model):
    """Where fetching stopped in one IMAP folder of one server.

    UIDs are only meaningful under the folder's UIDVALIDITY: when the server announces
    another one, the remembered UID is forgotten and the Message-Id keys avoid duplicates.
    Both are 32-bit unsigned numbers, stored as text because Odoo integers are signed.
    """

    _name = "fetchmail.server.folder"
    _description = "Incoming server folder state"
    _order = "fetchmail_server_id, name"

    fetchmail_server_id = fields.Many2one("fetchmail.server", required=True, ondelete="cascade", index=True)
    name = fields.Char("Folder", required=True)
    uidvalidity = fields.Char("UIDVALIDITY", readonly=True)
    last_uid = fields.Char("Last UID done", readonly=True, default="0",
                           help="Every message up to this UID was processed or quarantined and committed.")

    _sql_constraints = [("server_folder_unique", "UNIQUE(fetchmail_server_id, name)",
                         "A folder is listed once per incoming server.")]
