import { registry } from "@web/core/registry";

registry.category("web_tour.tours").add("mail_deliverability_overview_tour", {
    steps: () => [
        {
            content: "The outgoing servers are listed with their usage, limit and last error",
            trigger: ".o_field_widget[name='mail_server_ids'] .o_data_row:contains('Tour outgoing'):contains('451 4.3.0 Tour busy')",
        },
        {
            trigger: ".o_md_figure_queue_retry:contains('waiting for a retry')",
        },
        {
            content: "The overview shows the held quarantine figure",
            trigger: ".o_md_figure_quarantine_held:contains('held')",
            run: "click",
        },
        {
            content: "Following it opens the quarantine list, held messages only",
            trigger: ".o_list_view .o_data_row .o_data_cell:contains('Tour held message')",
        },
        {
            trigger: ".o_searchview_facet:contains('Held in quarantine'), .o_breadcrumb:contains('Held in quarantine')",
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
            content: "Release it",
            trigger: ".o_form_view .o_statusbar_buttons button[name='action_release']",
            run: "click",
        },
        {
            content: "It is released",
            trigger: ".o_form_view .o_statusbar_status button.o_arrow_button_current:contains('Released')",
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
            content: "The warning says the old address would no longer be recognised",
            trigger: ".modal:contains('Old address no longer recognised'):contains('replies@tour-new.example.com')",
        },
        {
            trigger: ".modal .modal-footer .btn-primary",
            run: "click",
        },
        {
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
            trigger: "#md_lists_setting button:contains('Outgoing Email Servers')",
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
            content: "Explained by rule 2",
            trigger: ".modal .o_field_widget[name='explanation']:contains('Rule 2'):contains('domain')",
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
            content: "Explained by rule 3",
            trigger: ".modal .o_field_widget[name='explanation']:contains('Rule 3'):contains('notification address')",
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
