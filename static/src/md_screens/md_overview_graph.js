import { _t } from "@web/core/l10n/translation";
import { serializeDate } from "@web/core/l10n/dates";
import { registry } from "@web/core/registry";
import { standardWidgetProps } from "@web/views/widgets/standard_widget_props";
import { View } from "@web/views/view";
import { Component } from "@odoo/owl";

const { DateTime } = luxon;

/**
 * Odoo's graph view of daily figures embedded in a form: the last `days` days, one bar per
 * day, one colour per `groupby` value, rows of the given `kinds`. By default the e-mail
 * activity of the Email Overview (mail.deliverability.activity, e-mails counted); with
 * `record_field`, only the rows of the record the form shows (the DMARC rows of an alias
 * domain, counted by `measure`).
 *
 *   <widget name="md_overview_graph" title="..." kinds="sent,failed,bounced" groupby="kind" days="30"/>
 *   <widget name="md_overview_graph" model="mail.dmarc.report.line" record_field="alias_domain_id"
 *           kinds="dmarc" groupby="result" measure="count" days="30"/>
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
        model: { type: String },
        measure: { type: String },
        recordField: { type: String, optional: true },
        cssClass: { type: String, optional: true },
    };

    get visible() {
        return !this.props.recordField || Boolean(this.props.record.resId);
    }

    get viewProps() {
        const since = serializeDate(DateTime.local().minus({ days: this.props.days - 1 }));
        return {
            resModel: this.props.model,
            type: "graph",
            domain: [
                ...(this.props.recordField ? [[this.props.recordField, "=", this.props.record.resId]] : []),
                ["kind", "in", this.props.kinds],
                ["date", ">=", since],
            ],
            context: {
                graph_groupbys: ["date:day", this.props.groupby],
                graph_measure: this.props.measure,
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
        model: attrs.model || "mail.deliverability.activity",
        measure: attrs.measure || "email_count",
        recordField: attrs.record_field,
        cssClass: attrs.css_class,
    }),
};

registry.category("view_widgets").add("md_overview_graph", mdOverviewGraph);
