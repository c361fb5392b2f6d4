import { registry } from "@web/core/registry";

registry.category("web_tour.tours").add("mail_deliverability_routing_story_tour", {
    steps: () => [
        {
            content: "The sent message shows its envelope icon",
            trigger: ".o-mail-Message:contains('Routing story post') .o-mail-Message-notification",
            run: "click",
        },
        {
            content: "Per recipient: which server sent it, as which From, and why",
            trigger: ".o-mail-MessageNotificationPopover:contains('Story Recipient') .o-md-NotificationRoute:contains('Sent via Story relay as')",
        },
    ],
});
