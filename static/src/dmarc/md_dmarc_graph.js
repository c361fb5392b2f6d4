import { _t } from "@web/core/l10n/translation";
import { serializeDate } from "@web/core/l10n/dates";
import { registry } from "@web/core/registry";
import { standardWidgetProps } from "@web/views/widgets/standard_widget_props";
import { View } from "@web/views/view";
import { Component } from "@odoo/owl";

const { DateTime } = luxon;

/**
 * Odoo's graph view of the DMARC report rows of the alias domain shown in the form: the
 * last `days` days, one bar per day, passing and failing messages stacked.
 *
 *   <widget name="md_dmarc_graph" days="30"/>
 */
export class MdDmarcGraph extends Component {
    static template = "mail_deliverability.MdDmarcGraph";
    static components = { View };
    static props = {
        ...standardWidgetProps,
        title: { type: String },
        days: { type: Number },
    };

    get viewProps() {
        const since = serializeDate(DateTime.local().minus({ days: this.props.days - 1 }));
        return {
            resModel: "mail.dmarc.report.line",
            type: "graph",
            domain: [
                ["alias_domain_id", "=", this.props.record.resId || 0],
                ["kind", "=", "dmarc"],
                ["date", ">=", since],
            ],
            context: {
                graph_groupbys: ["date:day", "result"],
                graph_measure: "count",
                graph_mode: "bar",
            },
            display: { controlPanel: false },
            views: [
                [false, "graph"],
                [false, "search"],
            ],
            useSampleModel: false,
        };
    }
}

export const mdDmarcGraph = {
    component: MdDmarcGraph,
    extractProps: ({ attrs }) => ({
        title: attrs.title || _t("Messages per day: passing and failing DMARC"),
        days: parseInt(attrs.days || "30", 10),
    }),
};

registry.category("view_widgets").add("md_dmarc_graph", mdDmarcGraph);
