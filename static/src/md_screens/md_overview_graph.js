import { _t } from "@web/core/l10n/translation";
import { serializeDate } from "@web/core/l10n/dates";
import { registry } from "@web/core/registry";
import { standardWidgetProps } from "@web/views/widgets/standard_widget_props";
import { View } from "@web/views/view";
import { Component } from "@odoo/owl";

const { DateTime } = luxon;

/**
 * Odoo's graph view of the e-mail activity (mail.deliverability.activity), embedded in the
 * Email Overview: the last `days` days, one bar per day, one colour per `groupby` value.
 *
 *   <widget name="md_overview_graph" title="..." kinds="sent,failed,bounced" groupby="kind" days="30"/>
 */
export class MdOverviewGraph extends Component {
    static template = "mail_deliverability.MdOverviewGraph";
    static components = { View };
    static props = {
        ...standardWidgetProps,
        title: { type: String, optional: true },
        kinds: { type: Array },
        groupby: { type: String },
        days: { type: Number },
        graphType: { type: String },
    };

    get viewProps() {
        const since = serializeDate(DateTime.local().minus({ days: this.props.days - 1 }));
        return {
            resModel: "mail.deliverability.activity",
            type: "graph",
            domain: [
                ["kind", "in", this.props.kinds],
                ["date", ">=", since],
            ],
            context: {
                graph_groupbys: ["date:day", this.props.groupby],
                graph_measure: "email_count",
                graph_mode: this.props.graphType,
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

export const mdOverviewGraph = {
    component: MdOverviewGraph,
    extractProps: ({ attrs }) => ({
        title: attrs.title || _t("E-mails per day"),
        kinds: (attrs.kinds || "sent,failed,bounced").split(",").map((kind) => kind.trim()),
        groupby: attrs.groupby || "kind",
        days: parseInt(attrs.days || "30", 10),
        graphType: attrs.graph_type || "bar",
    }),
};

registry.category("view_widgets").add("md_overview_graph", mdOverviewGraph);
