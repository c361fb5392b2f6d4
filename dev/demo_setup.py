# Demo configuration of the run command's database, executed in `odoo-bin shell`.
# Idempotent: run at every start so that the outgoing server follows the catcher's port.
CATCHER_PORT = 2525

company = env.ref("base.main_company")
domain = env["mail.alias.domain"].search([("name", "=", "example.com")], limit=1)
if not domain:
    domain = env["mail.alias.domain"].create({
        "name": "example.com", "catchall_alias": "catchall", "bounce_alias": "bounce",
        "default_from": "notifications",
    })
company.alias_domain_id = domain
company.email = company.email or "info@example.com"
server = env["ir.mail_server"].with_context(active_test=False).search([("name", "=", "Local SMTP catcher")], limit=1)
values = {"name": "Local SMTP catcher", "smtp_host": "127.0.0.1", "smtp_port": CATCHER_PORT,
          "smtp_encryption": "none", "sequence": 10, "active": True}
if server:
    server.write(values)
else:
    env["ir.mail_server"].create(values)
admin = env.ref("base.user_admin")
admin.email = admin.email or "admin@example.com"
if not env["res.partner"].search([("email", "=", "jane.external@customer.example.net")], limit=1):
    env["res.partner"].create({"name": "Jane External", "email": "jane.external@customer.example.net"})
env.cr.commit()
print("DEMO-SETUP-OK")
