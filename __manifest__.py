{
    "name": "Email Deliverability & Gateway Control",
    "summary": "Outgoing routing that explains itself, exact bounce handling, a gateway "
               "guard with quarantine, safe incoming fetch and DNS deliverability checks.",
    "version": "18.0.1.0.0",
    "category": "Hidden/Tools",
    "license": "LGPL-3",
    "author": "mail_deliverability contributors",
    "website": "https://example.invalid/mail_deliverability",
    "depends": ["mail"],
    "external_dependencies": {"python": ["dnspython", "publicsuffixlist", "flufl_bounce", "pyspf", "dkimpy",
                                         "defusedxml"]},
    "data": [
        # foundation
        "security/ir.model.access.csv",
        "security/mail_deliverability_security.xml",
        "views/mail_deliverability_menus.xml",
        "views/mail_alias_domain_views.xml",
        # outgoing routing
        "views/ir_mail_server_views.xml",
        "views/mail_mail_views.xml",
        "wizards/mail_routing_preview_views.xml",
        # bounces
        "data/mail_bounce_data.xml",
        "views/mail_bounce_event_views.xml",
        # gateway guard
        "data/mail_gateway_data.xml",
        "views/mail_gateway_quarantine_views.xml",
        # incoming servers
        "data/fetchmail_server_data.xml",
        "views/fetchmail_server_views.xml",
        # DNS checks
        "data/mail_dns_check_data.xml",
        "views/mail_alias_domain_check_views.xml",
        # outgoing queue
        "data/mail_queue_data.xml",
        # MX gateway
        "data/mail_mailgate_data.xml",
        # screens
        "views/mail_deliverability_overview_views.xml",
        "views/res_config_settings_views.xml",
        "views/ir_config_parameter_views.xml",
        # DMARC and TLS reports
        "data/mail_dmarc_report_data.xml",
        "views/mail_dmarc_report_views.xml",
    ],
    "assets": {
        "web.assets_backend": [
            "mail_deliverability/static/src/md_screens/**/*",
            "mail_deliverability/static/src/routing/*.xml",
        ],
        "web.assets_tests": [
            "mail_deliverability/static/tests/tours/*.js",
        ],
    },
    "installable": True,
    "application": False,
}
