import { registry } from "@web/core/registry";

// The alias domain's report tab: its figures, and one followed to the rows it counts.
registry.category("web_tour.tours").add("mail_deliverability_dmarc_tour", {
    steps: () => [
        {
            content: "Open the tab of what the receivers report",
            trigger: ".o_notebook .nav-link:contains('What receivers report')",
            run: "click",
        },
        {
            content: "Our mail's share passing DMARC is shown",
            trigger: ".o_md_dmarc_ours .o_field_widget[name='dmarc_our_share']:contains('95.2')",
        },
        {
            content: "The DMARC record to publish names the report address, no ruf=",
            trigger: ".o_field_widget[name='dmarc_record_suggested']:contains('rua=mailto:dmarc-reports@tour-dmarc.example.com'):not(:contains('ruf='))",
        },
        {
            content: "The fix of our failing source is given",
            trigger: ".o_field_widget[name='dmarc_details']:contains('127.0.0.1'):contains('SPF fails')",
        },
        {
            content: "The daily chart of passing and failing messages is drawn",
            trigger: ".o_md_dmarc_graph .o_graph_renderer canvas",
        },
        {
            content: "Follow the figure of unknown senders",
            trigger: ".o_md_dmarc_unknown:contains('from unknown senders')",
            run: "click",
        },
        {
            content: "It lists the unknown source with its messages",
            trigger: ".o_list_view .o_data_row:contains('198.51.100.7'):contains('7')",
        },
        {
            trigger: ".o_list_view:not(:has(.o_data_row:contains('127.0.0.1')))",
        },
        {
            content: "The period is a facet the administrator can see and remove",
            trigger: ".o_searchview_facet:contains('Last 30 days')",
        },
    ],
});
