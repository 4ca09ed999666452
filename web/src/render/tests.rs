//! The whole note pipeline (markdown -> HTML -> sanitiser) on each link and embed form.

use super::markdown::{NoteContext, render};
use super::resolve::PathIndex;
use super::sanitize::clean;

const VAULT: &[&str] = &[
    "Home.md",
    "projects/Plan.md",
    "attachments/logo.png",
    "a/Same.md",
    "b/Same.md",
    "Other.md",
    "Loop.md",
];

fn html(path: &str, text: &str) -> String {
    let index = PathIndex::new(VAULT.iter().copied());
    let read = |p: &str| -> Option<String> {
        Some(match p {
            "Other.md" => "---\ntitle: x\n---\nOther's **text** and ![[Loop]]".to_string(),
            "Loop.md" => "Loop embeds ![[Home]]".to_string(),
            _ => format!("text of {p}"),
        })
    };
    let ctx = NoteContext {
        vault: "v",
        path,
        index: &index,
        transclude: Some(&read),
    };
    clean(&render(&ctx, text))
}

#[test]
fn every_link_and_embed_form() {
    let cases: &[(&str, &str)] = &[
        (
            "[[Plan]]",
            r#"<a class="internal" href="/v/v/n/projects/Plan.md" rel="noopener noreferrer">Plan</a>"#,
        ),
        (
            "[[plan|the plan]]",
            r#"href="/v/v/n/projects/Plan.md" rel="noopener noreferrer">the plan</a>"#,
        ),
        (
            "[[Plan#My Goals]]",
            r#"href="/v/v/n/projects/Plan.md#my-goals""#,
        ),
        (
            "[[#Local Heading]]",
            r##"<a class="internal" href="#local-heading""##,
        ),
        (
            "[[Plan#^abc]]",
            r#"href="/v/v/n/projects/Plan.md#block-abc""#,
        ),
        ("[[projects/Plan]]", r#"href="/v/v/n/projects/Plan.md""#),
        (
            "[[Same]]",
            r#"class="internal ambiguous" href="/v/v/n/a/Same.md" title="Ambiguous link: “Same” also names b/Same.md; showing a/Same.md""#,
        ),
        (
            "[[Nowhere]]",
            r#"<span class="missing" title="No note “Nowhere” in this vault">Nowhere</span>"#,
        ),
        (
            "[md](projects/Plan.md#Goals)",
            r#"href="/v/v/n/projects/Plan.md#goals""#,
        ),
        (
            "![[logo.png]]",
            r#"<img src="/v/v/raw/attachments/logo.png" alt="logo.png">"#,
        ),
        (
            "![[logo.png|300]]",
            r#"<img src="/v/v/raw/attachments/logo.png" alt="logo.png" width="300">"#,
        ),
        (
            "![alt](attachments/logo.png)",
            r#"<img src="/v/v/raw/attachments/logo.png" alt="alt">"#,
        ),
        ("![[missing.png]]", r#"class="missing embed-missing""#),
        (
            "![[Home]]",
            r#"<a class="internal embed-link" href="/v/v/n/Home.md""#,
        ),
        (
            "see https://example.com/a_b and www.example.org.",
            r#"<a href="https://example.com/a_b" rel="noopener noreferrer">https://example.com/a_b</a> and <a href="http://www.example.org" rel="noopener noreferrer">www.example.org</a>."#,
        ),
        (
            "`https://example.com` in code",
            "<code>https://example.com</code>",
        ),
        (
            "a paragraph ^para-1",
            r#"<p id="block-para-1">a paragraph</p>"#,
        ),
        ("- item ^it", r#"<li id="block-it">item</li>"#),
        ("## Goals\n## Goals", r#"<h2 id="goals">Goals</h2>"#),
        ("## Goals\n## Goals", r#"<h2 id="goals-1">Goals</h2>"#),
        ("- [x] done\n- [ ] open", r#"type="checkbox""#),
        ("- [x] done\n- [ ] open", r#"checked="""#),
        ("~~gone~~", "<del>gone</del>"),
        ("[up](#My%20Goals)", r##"<a href="#my-goals""##),
        ("[[Plan#My Goals]]", ">Plan &gt; My Goals</a>"),
        ("[[#Local Heading]]", ">Local Heading</a>"),
        (
            "| a | b |\n|:-:|--:|\n| 1 | 2 |",
            r#"<td class="align-center">1</td>"#,
        ),
        ("| a | b |\n|---|---|\n| 1 | 2 |", "<td>1</td>"),
        (
            "x[^1]\n\n[^1]: note",
            r##"<a href="#1" rel="noopener noreferrer">1</a>"##,
        ),
    ];
    for (text, want) in cases {
        let got = html("Home.md", text);
        assert!(got.contains(want), "{text}\nwant {want}\n got {got}");
    }
}

#[test]
fn transclusion_is_one_level_and_never_loops() {
    let got = html("Home.md", "![[Other]]");
    assert!(got.contains(r#"<div class="embed">"#), "{got}");
    assert!(got.contains("Other’s") || got.contains("Other's"), "{got}");
    assert!(got.contains("<strong>text</strong>"), "{got}");
    assert!(
        !got.contains("title: x"),
        "front matter of the embedded note: {got}"
    );
    // Other embeds Loop: a second level is a link, not Loop's text.
    assert!(
        got.contains(r#"<a class="internal embed-link" href="/v/v/n/Loop.md""#),
        "{got}"
    );
    assert!(!got.contains("Loop embeds"), "{got}");
    // Loop embeds Home: rendering Loop shows Home's text; Home embedding itself is a link.
    let got = html("Loop.md", "![[Home]] ![[Loop]]");
    assert!(got.contains("text of Home.md"), "{got}");
    assert!(
        got.contains(r#"embed-link" href="/v/v/n/Loop.md""#),
        "{got}"
    );
}

#[test]
fn hostile_markdown_never_keeps_script() {
    for text in [
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        "[x](javascript:alert(1))",
        "<svg onload=alert(1)>",
        "[[Plan|<img src=x onerror=alert(1)>]]",
        "[[<script>alert(1)</script>]]",
        "![[x\" onerror=\"alert(1).png]]",
        "![a](javascript:alert(1))",
        "<a href=\"JaVaScRiPt:alert(1)\">x</a>",
        "<iframe src=\"javascript:alert(1)\"></iframe>",
        "<div style=\"background:url(javascript:alert(1))\">x</div>",
        "[x](<javascript:alert(1)>)",
        "<form><button formaction=javascript:alert(1)>x</button></form>",
    ] {
        let got = html("Home.md", text).to_ascii_lowercase();
        // Text and attribute values may say anything (escaped); no tag or attribute name
        // may be a script's, no URL may run one.
        for tag in got
            .split('<')
            .skip(1)
            .map(|t| t.split('>').next().unwrap_or(""))
        {
            let names: String = tag.split('"').step_by(2).collect();
            for bad in [
                "script", "onerror", "onload", "iframe", "svg", "style", "form",
            ] {
                assert!(!names.contains(bad), "{text} -> <{tag}> in {got}");
            }
        }
        for bad in ["href=\"javascript:", "src=\"javascript:", "src=\"data:"] {
            assert!(!got.contains(bad), "{text} -> {got}");
        }
    }
}

#[test]
fn sections_and_blocks_of_a_note() {
    use super::markdown::section;
    let text = "# Top\nintro\n## Goals\ngoal text\n### Sub\nsub text\n## Next\nnext text\n- item ^blk\nlast line\n";
    assert_eq!(
        section(text, "Goals"),
        Some("## Goals\ngoal text\n### Sub\nsub text\n")
    );
    assert_eq!(section(text, "Top#Sub"), Some("### Sub\nsub text\n"));
    assert_eq!(
        section(text, "next"),
        Some("## Next\nnext text\n- item ^blk\nlast line\n")
    );
    assert_eq!(section(text, "^blk"), Some("- item ^blk"));
    assert_eq!(section(text, "Nowhere"), None);
    assert_eq!(section(text, "^none"), None);
    // Embedded: only the section.
    let index = PathIndex::new(["Home.md", "Other.md"]);
    let read = |_: &str| Some(text.to_string());
    let ctx = NoteContext {
        vault: "v",
        path: "Home.md",
        index: &index,
        transclude: Some(&read),
    };
    let got = clean(&render(&ctx, "![[Other#Goals]]"));
    assert!(
        got.contains("goal text") && got.contains("sub text"),
        "{got}"
    );
    assert!(
        !got.contains("intro") && !got.contains("next text"),
        "{got}"
    );
}
