//! The links going out of a note (for the backlinks): what each link names, before
//! resolution. Kept per blob id by the link index, so a new snapshot re-reads only the notes
//! that changed; resolving them against the head's paths is cheap and done per head.

use pulldown_cmark::{Event, LinkType, Parser, Tag};

use super::resolve::{self, PathIndex, Resolved};

/// A link of a note, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outgoing {
    /// `[[Name]]`, `![[Name]]` (file part only).
    Wiki(String),
    /// `[x](path)`, `![](path)` to a vault path (percent-decoded, fragment cut).
    Path(String),
}

/// Every link of `text` that may point into the vault, deduplicated, in order.
pub fn outgoing(text: &str) -> Vec<Outgoing> {
    let mut out: Vec<Outgoing> = Vec::new();
    for event in Parser::new_ext(text, super::markdown::options()) {
        let (link_type, dest) = match &event {
            Event::Start(Tag::Link {
                link_type,
                dest_url,
                ..
            })
            | Event::Start(Tag::Image {
                link_type,
                dest_url,
                ..
            }) => (*link_type, dest_url),
            _ => continue,
        };
        let file = dest.split('#').next().unwrap_or("");
        let link = match link_type {
            LinkType::WikiLink { .. } if !file.trim().is_empty() => {
                Outgoing::Wiki(file.to_string())
            }
            LinkType::Inline | LinkType::Reference | LinkType::Collapsed | LinkType::Shortcut
                if !file.is_empty() && !file.contains(':') && !file.starts_with("//") =>
            {
                Outgoing::Path(
                    percent_encoding::percent_decode_str(file)
                        .decode_utf8_lossy()
                        .into_owned(),
                )
            }
            _ => continue,
        };
        if !out.contains(&link) {
            out.push(link);
        }
    }
    out
}

/// The files the links of note `from` point at (not itself), each once.
pub fn targets(index: &PathIndex, from: &str, links: &[Outgoing]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for link in links {
        let found = match link {
            Outgoing::Wiki(name) => resolve::resolve(index, from, name),
            Outgoing::Path(path) => resolve::resolve_path(index, from, path),
        };
        if let Resolved::File { path, .. } = found
            && path != from
            && !out.contains(&path)
        {
            out.push(path);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_of_a_note() {
        let text = "See [[Plan]], [[Plan#Goals]], [[Other|o]] and ![[img.png|300]].\n\
                    [md](sub/a%20b.md#x) [web](https://example.com) [[#Local]] `[[code]]`\n\n\
                    ```\n[[Fenced]]\n```\n";
        assert_eq!(
            outgoing(text),
            vec![
                Outgoing::Wiki("Plan".into()),
                Outgoing::Wiki("Other".into()),
                Outgoing::Wiki("img.png".into()),
                Outgoing::Path("sub/a b.md".into()),
            ]
        );
        let index = PathIndex::new([
            "Plan.md",
            "x/Other.md",
            "img.png",
            "n/sub/a b.md",
            "n/me.md",
        ]);
        let mut links = outgoing(text);
        links.push(Outgoing::Wiki("me".into()));
        links.push(Outgoing::Wiki("missing".into()));
        assert_eq!(
            targets(&index, "n/me.md", &links),
            vec!["Plan.md", "x/Other.md", "img.png", "n/sub/a b.md"]
        );
    }
}
