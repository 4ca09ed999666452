//! Every note's HTML passes through ammonia's allow-list before it is served: what the
//! renderer emits (classes, heading and block ids, disabled task checkboxes, image sizes,
//! footnote links) stays; scripts, event handlers, `style`, forms, frames and `javascript:` or
//! `data:` URLs go. The page's Content-Security-Policy is the second line.

use std::sync::LazyLock;

static CLEANER: LazyLock<ammonia::Builder<'static>> = LazyLock::new(|| {
    let mut b = ammonia::Builder::default();
    b.add_tags(["input"])
        .add_generic_attributes(["id", "class", "aria-hidden"])
        .add_tag_attributes("input", ["checked"])
        // A task's box and nothing else: no text field, no button, no file picker.
        .set_tag_attribute_value("input", "disabled", "")
        .set_tag_attribute_value("input", "type", "checkbox")
        .rm_url_schemes(["data"])
        .link_rel(Some("noopener noreferrer"));
    b
});

/// `html` with everything that could run script or change the page's frame removed.
pub fn clean(html: &str) -> String {
    CLEANER.clean(html).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_and_handlers_go_what_the_renderer_emits_stays() {
        let cases = [
            ("<script>alert(1)</script>x", "x"),
            ("<img src=x onerror=alert(1)>", "<img src=\"x\">"),
            ("<svg onload=alert(1)></svg>", ""),
            (
                "<a href=\"javascript:alert(1)\">x</a>",
                "<a rel=\"noopener noreferrer\">x</a>",
            ),
            ("<iframe src=\"/\"></iframe>", ""),
            ("<form action=\"/logout\"><button>x</button></form>", "x"),
            ("<p style=\"color:red\">x</p>", "<p>x</p>"),
            ("<img src=\"data:text/html,x\">", "<img>"),
            ("<h2 id=\"goals\">Goals</h2>", "<h2 id=\"goals\">Goals</h2>"),
            (
                "<a class=\"internal ambiguous\" href=\"/v/n/n/a.md\" title=\"t\">a</a>",
                "<a class=\"internal ambiguous\" href=\"/v/n/n/a.md\" title=\"t\" rel=\"noopener noreferrer\">a</a>",
            ),
            (
                "<img src=\"/v/n/raw/a.png\" alt=\"a\" width=\"300\">",
                "<img src=\"/v/n/raw/a.png\" alt=\"a\" width=\"300\">",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(clean(input), want, "{input}");
        }
    }

    /// Any `<input>` becomes a disabled checkbox (its attributes in no fixed order).
    #[test]
    fn inputs_are_disabled_checkboxes() {
        for (input, checked) in [
            ("<input type=\"text\" value=\"x\">", false),
            ("<input>", false),
            ("<input type=\"file\" onclick=\"x\">", false),
            (
                "<input disabled=\"\" type=\"checkbox\" checked=\"\"/>",
                true,
            ),
        ] {
            let got = clean(input);
            let mut attrs: Vec<&str> = got
                .trim_start_matches("<input ")
                .trim_end_matches('>')
                .split(' ')
                .collect();
            attrs.sort();
            let mut want = vec!["disabled=\"\"", "type=\"checkbox\""];
            if checked {
                want.insert(0, "checked=\"\"");
            }
            assert_eq!(attrs, want, "{input} -> {got}");
        }
    }
}
