import { registry } from "@web/core/registry";

registry.category("web_tour.tours").add("mail_deliverability_overview_tour", {
    steps: () => [
        {
            content: "A dashboard, not a record: no pager",
            trigger: ".o_md_overview:not(:has(.o_pager))",
        },
        {
            trigger: ".o_control_panel:not(:has(.o_pager))",
        },
        {
            content: "The outgoing servers are listed with their usage, limit and last error",
            trigger: ".o_field_widget[name='mail_server_ids'] .o_data_row:contains('Tour outgoing'):contains('451 4.3.0 Tour busy')",
        },
        {
            content: "A server without daily limit says so",
            trigger: ".o_field_widget[name='mail_server_ids'] .o_data_row:contains('Tour unlimited') .o_field_widget[name='md_daily_limit']:contains('No limit')",
        },
        {
            content: "Failures are red",
            trigger: ".o_md_figure_queue_exception .o_field_widget[name='queue_exception_count'].text-danger",
        },
        {
            content: "Held messages are orange",
            trigger: ".o_md_figure_quarantine_held .o_field_widget[name='quarantine_held_count'].text-warning",
        },
        {
            content: "Empty figures are quiet",
            trigger: ".o_md_figure_queue_retry:contains('waiting for a retry') .o_field_widget[name='queue_retry_count'].text-muted:contains('0')",
        },
        {
            content: "The chart of sent, failed and bounced e-mails per day is drawn",
            trigger: ".o_md_overview_graph:contains('sent, failed, bounced') .o_graph_renderer canvas",
        },
        {
            content: "The chart of the quarantine by reason is drawn",
            trigger: ".o_md_overview_graph:contains('by reason') .o_graph_renderer canvas",
        },
        {
            content: "Follow the held quarantine figure",
            trigger: ".o_md_figure_quarantine_held:contains('held')",
            run: "click",
        },
        {
            content: "It opens the quarantine list, held messages only",
            trigger: ".o_list_view .o_data_row .o_data_cell:contains('Tour held message')",
        },
        {
            content: "The filter is a facet the person can see and remove",
            trigger: ".o_searchview_facet:contains('Held')",
        },
        {
            trigger: ".o_list_view:not(:has(.o_data_row:contains('Tour released message')))",
        },
        {
            content: "Remove the facet: every entry is listed",
            trigger: ".o_searchview_facet:contains('Held') .o_facet_remove",
            run: "click",
        },
        {
            trigger: ".o_list_view .o_data_row:contains('Tour released message')",
        },
    ],
});

registry.category("web_tour.tours").add("mail_deliverability_overview_empty_tour", {
    steps: () => [
        {
            content: "Follow the figure of the outgoing servers in error",
            trigger: ".o_md_figure_mail_server_error",
            run: "click",
        },
        {
            content: "An empty list explains itself",
            trigger: ".o_view_nocontent:contains('No outgoing mail server failed in the last 24 hours')",
        },
        {
            trigger: ".o_searchview_facet:contains('In error (last 24 hours)')",
        },
    ],
});

registry.category("web_tour.tours").add("mail_deliverability_quarantine_release_tour", {
    steps: () => [
        {
            content: "Open the held message",
            trigger: ".o_list_view .o_data_row .o_data_cell:contains('Tour release me')",
            run: "click",
        },
        {
            content: "Held, shown as a badge",
            trigger: ".o_form_view .oe_title .o_field_widget[name='state'] .badge:contains('Held')",
        },
        {
            content: "Its address leads nowhere: Release is not offered until a destination is chosen",
            trigger: ".o_form_view:not(:has(.o_statusbar_buttons button[name='action_release']))",
        },
        {
            trigger: ".o_form_view .alert:contains('Destination on release')",
        },
        {
            content: "The raw message can be downloaded, not edited nor deleted",
            trigger: ".o_notebook .nav-link:contains('Raw source')",
            run: "click",
        },
        {
            trigger: ".o_field_widget[name='raw_message']:not(:has(.o_select_file_button, .o_clear_file_button))",
        },
        {
            content: "Pick a model that takes mail",
            trigger: ".o_form_view .o_field_widget[name='model'] select",
            run: 'select "res.partner"',
        },
        {
            content: "Pick the record to post on",
            trigger: ".o_form_view .o_field_widget[name='thread_id'] input",
            run: "edit Tour partner",
        },
        {
            trigger: ".o-autocomplete--dropdown-item:contains('Tour partner')",
            run: "click",
        },
        {
            content: "Release is offered now",
            trigger: ".o_form_view .o_statusbar_buttons button[name='action_release']",
            run: "click",
        },
        {
            content: "A notification says where it went",
            trigger: ".o_notification:contains('Message released'):contains('Tour partner')",
        },
        {
            content: "It is released",
            trigger: ".o_form_view .oe_title .o_field_widget[name='state'] .badge:contains('Released')",
        },
        {
            content: "The record it went to is a link",
            trigger: ".o_form_view .o_field_widget[name='md_released_ref'] a:contains('Tour partner')",
        },
    ],
});

registry.category("web_tour.tours").add("mail_deliverability_settings_tour", {
    steps: () => [
        {
            content: "The e-mail block shows the company's catchall",
            trigger: "#email-alias-setting div[name='md_catchall_alias'] input",
            run: "edit tourcatchall",
        },
        {
            trigger: "#md_loop_setting div[name='md_loop_threshold'] input",
            run: "edit 7",
        },
        {
            content: "Save",
            trigger: ".o_control_panel .o_form_button_save, .o_form_button_save",
            run: "click",
        },
        {
            trigger: "#md_loop_setting div[name='md_loop_threshold'] input:value(7)",
        },
    ],
});

registry.category("web_tour.tours").add("mail_deliverability_alias_domain_tour", {
    steps: () => [
        {
            content: "Create an alias domain",
            trigger: ".o_list_button_add",
            run: "click",
        },
        {
            trigger: ".o_form_view div[name='name'] input",
            run: "edit tour-new.example.com",
        },
        {
            trigger: ".o_form_view div[name='catchall_alias'] input",
            run: "edit replies",
        },
        {
            trigger: ".o_form_button_save",
            run: "click",
        },
        {
            content: "Saved",
            trigger: ".o_form_view .o_form_saved",
        },
        {
            content: "Change the catchall of the saved domain",
            trigger: ".o_form_view div[name='catchall_alias'] input",
            run: "edit answers && click body",
        },
        {
            content: "The form says what becomes of the old address, next to the choice",
            trigger: ".o_md_address_change:contains('replies@tour-new.example.com'):contains('stays accepted')",
        },
        {
            trigger: ".o_md_address_change:contains('Keep accepting the old address')",
        },
        {
            content: "No dialog to close",
            trigger: "body:not(:has(.modal))",
        },
        {
            trigger: ".o_form_button_save",
            run: "click",
        },
        {
            content: "The replaced address is kept",
            trigger: ".o_form_view div[name='md_previous_catchall_aliases'] input:value(replies)",
        },
    ],
});

registry.category("web_tour.tours").add("mail_deliverability_outgoing_server_tour", {
    steps: () => [
        {
            content: "Settings link to the outgoing servers",
            trigger: "#md_lists_setting button:contains('Outgoing Mail Servers')",
            run: "click",
        },
        {
            trigger: ".o_list_button_add",
            run: "click",
        },
        {
            trigger: ".o_form_view div[name='name'] input",
            run: "edit Tour relay",
        },
        {
            trigger: ".o_form_view div[name='from_filter'] input",
            run: "edit tour-new.example.com",
        },
        {
            trigger: ".o_form_view div[name='smtp_host'] input",
            run: "edit smtp.tour-new.example.com",
        },
        {
            trigger: ".o_form_button_save",
            run: "click",
        },
        {
            trigger: ".o_form_view .o_form_saved",
        },
    ],
});

registry.category("web_tour.tours").add("mail_deliverability_routing_preview_tour", {
    steps: () => [
        {
            content: "A sender of the domain the relay's FROM filter lists",
            trigger: ".modal .o_field_widget[name='email_from'] input",
            run: "edit mary@tour-preview.example.com && press Tab",
        },
        {
            content: "The relay sends it, From unchanged",
            trigger: ".modal .o_field_widget[name='server_label']:contains('Tour preview relay')",
        },
        {
            trigger: ".modal .o_field_widget[name='final_from']:contains('mary@tour-preview.example.com')",
        },
        {
            content: "Explained by the documented rule, by name",
            trigger: ".modal .o_field_widget[name='rule_label']:contains(\"Sender's domain is in the server's FROM filter\")",
        },
        {
            trigger: ".modal .o_field_widget[name='explanation']:contains(\"Sender's domain is in the server's FROM filter (Rule 2)\")",
        },
        {
            content: "A sender of another domain",
            trigger: ".modal .o_field_widget[name='email_from'] input",
            run: "edit john@elsewhere.example.org && press Tab",
        },
        {
            content: "Same relay, From rewritten to the notification address",
            trigger: ".modal .o_field_widget[name='final_from']:contains('notifications@tour-preview.example.com')",
        },
        {
            trigger: ".modal .o_field_widget[name='server_label']:contains('Tour preview relay')",
        },
        {
            content: "Explained by rule 3, by name",
            trigger: ".modal .o_field_widget[name='rule_label']:contains('Notification address is in the server')",
        },
        {
            trigger: ".modal .o_field_widget[name='explanation']:contains('Rule 3'):not(:contains(\"''\")):not(:contains('#'))",
        },
        {
            content: "Only documents are offered as the record",
            trigger: ".modal .o_field_widget[name='record_ref'] select:has(option:contains('Contact')):not(:has(option:contains('IAP Account'))):not(:has(option:contains('mixin')))",
        },
        {
            content: "Close: nothing was sent",
            trigger: ".modal .modal-footer button:contains('Close')",
            run: "click",
        },
        {
            trigger: "body:not(:has(.modal))",
        },
    ],
});

registry.category("web_tour.tours").add("mail_deliverability_test_connection_tour", {
    steps: () => [
        {
            content: "The port is shown as written, without thousands separator",
            trigger: ".o_form_view .o_field_widget[name='smtp_port'] input:value(2525)",
        },
        {
            content: "Type a port nobody listens on",
            trigger: ".o_form_view .o_field_widget[name='smtp_port'] input",
            run: "edit 1 && press Tab",
        },
        {
            content: "Not port 25: no port 25 warning",
            trigger: ".o_form_view:not(:has(.alert:contains('Port 25')))",
        },
        {
            content: "Test the connection",
            trigger: ".o_form_view .o_statusbar_buttons button[name='test_smtp_connection']",
            run: "click",
        },
        {
            content: "It fails and says so",
            trigger: ".modal .modal-body:contains('refused')",
        },
        {
            trigger: ".modal .modal-footer .btn-primary",
            run: "click",
        },
        {
            content: "The wrong port is still only an unsaved change",
            trigger: ".o_form_view .o_form_status_indicator_buttons:not(.invisible) .o_form_button_save",
        },
        {
            trigger: ".o_form_view .o_field_widget[name='smtp_port'] input:value(1)",
        },
        {
            content: "Discard: the saved port comes back",
            trigger: ".o_form_view .o_form_button_cancel",
            run: "click",
        },
        {
            trigger: ".o_form_view .o_field_widget[name='smtp_port'] input:value(2525)",
        },
    ],
});
