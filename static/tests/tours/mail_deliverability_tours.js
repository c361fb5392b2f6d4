import { registry } from "@web/core/registry";

registry.category("web_tour.tours").add("mail_deliverability_overview_tour", {
    steps: () => [
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
