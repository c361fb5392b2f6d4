import { _t } from "@web/core/l10n/translation";
import { formatDateTime } from "@web/core/l10n/dates";
import { registry } from "@web/core/registry";
import { BadgeField, badgeField } from "@web/views/fields/badge/badge_field";

/**
 * A status badge whose tooltip says when the status was established
 * ("Checked on 11/30/2026 19:46:18"), read from the date field named in
 * options="{'date_field': 'dns_checked_on'}".
 */
export class MdDatedBadgeField extends BadgeField {
    static template = "mail_deliverability.MdDatedBadgeField";
    static props = {
        ...BadgeField.props,
        dateField: { type: String, optional: true },
    };

    get tooltip() {
        const date = this.props.dateField && this.props.record.data[this.props.dateField];
        if (!date) {
            return _t("Never checked");
        }
        return _t("Checked on %s", formatDateTime(date));
    }
}

export const mdDatedBadgeField = {
    ...badgeField,
    component: MdDatedBadgeField,
    displayName: _t("Badge with the date of the check"),
    extractProps: (fieldInfo, dynamicInfo) => ({
        ...badgeField.extractProps(fieldInfo, dynamicInfo),
        dateField: fieldInfo.options.date_field,
    }),
};

registry.category("fields").add("md_dated_badge", mdDatedBadgeField);
