//! A note's markdown as HTML: CommonMark + GFM (tables, task lists, strikethrough,
//! footnotes, bare-URL autolinks) by pulldown-cmark, with Obsidian's wikilinks, embeds, heading
//! ids and `^block` ids. The HTML is NOT safe yet: raw HTML of the note passes through; the
//! caller runs it through [`super::sanitize`].

use pulldown_cmark::{
    CowStr, Event, HeadingLevel, LinkType, Options, Parser, Tag, TagEnd, TextMergeStream,
};

use super::resolve::{self, PathIndex, Resolved};
use super::slug::{self, Slugger};
use crate::urls;

/// Reads a note's text by path (for a transclusion); `None` when it cannot be read.
pub type ReadNote<'a> = dyn Fn(&str) -> Option<String> + 'a;

/// Where a note is rendered: its vault and path (for links and embeds) and how to read
/// another note for a transclusion (`None`: embedded notes become links; one level only).
pub struct NoteContext<'a> {
    pub vault: &'a str,
    pub path: &'a str,
    pub index: &'a PathIndex,
    pub transclude: Option<&'a ReadNote<'a>>,
}

/// The parser options of every note (and of the link index, so both see the same links).
pub fn options() -> Options {
    Options::ENABLE_TABLES
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_FOOTNOTES
        | Options::ENABLE_WIKILINKS
}

/// HTML-escape `s` (text and attribute values).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const IMAGE_EXTS: &[&str] = &["png", "jpg", "jpeg", "gif", "webp", "avif", "bmp", "ico"];

/// Whether `path` is an image a page shows inline (SVG is not: it is served as a download).
pub fn is_image(path: &str) -> bool {
    path.rsplit_once('.')
        .is_some_and(|(_, ext)| IMAGE_EXTS.iter().any(|e| ext.eq_ignore_ascii_case(e)))
}

/// A link's destination split into file part and fragment (`Note#Heading` -> (`Note`,
/// `Heading`)).
fn split_fragment(dest: &str) -> (&str, Option<&str>) {
    match dest.split_once('#') {
        Some((file, frag)) => (file, Some(frag)),
        None => (dest, None),
    }
}

/// Whether a URL names a scheme (`https:`, `mailto:`, `javascript:`): not a vault path.
fn has_scheme(url: &str) -> bool {
    match url.find(':') {
        Some(i) => {
            let scheme = &url[..i];
            !scheme.is_empty()
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
                && !url[..i].contains('/')
        }
        None => false,
    }
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// The HTML of `text` (a note body, front matter already cut off).
pub fn render(ctx: &NoteContext, text: &str) -> String {
    let events: Vec<Event> = TextMergeStream::new(Parser::new_ext(text, options())).collect();
    let mut r = Renderer {
        ctx,
        out: Vec::with_capacity(events.len()),
        slugger: Slugger::default(),
        closers: Vec::new(),
        blocks: Vec::new(),
        in_code: 0,
        in_link: 0,
    };
    let mut i = 0;
    while i < events.len() {
        i = r.event(&events, i);
    }
    let mut html = String::with_capacity(text.len() * 3 / 2);
    pulldown_cmark::html::push_html(&mut html, r.out.into_iter());
    // Table columns are aligned by `style`, which the sanitiser and the CSP refuse: a class.
    for side in ["left", "center", "right"] {
        html = html.replace(
            &format!(" style=\"text-align: {side}\">"),
            &format!(" class=\"align-{side}\">"),
        );
    }
    html
}

struct Renderer<'c, 'a> {
    ctx: &'c NoteContext<'c>,
    out: Vec<Event<'a>>,
    slugger: Slugger,
    /// The closing HTML of each open link.
    closers: Vec<&'static str>,
    /// Where each open paragraph or list item starts in `out` (for `^block` ids).
    blocks: Vec<(usize, &'static str)>,
    in_code: usize,
    in_link: usize,
}

impl<'c, 'a> Renderer<'c, 'a> {
    /// Handle `events[i]` (and what it consumes); the index of the next event.
    fn event(&mut self, events: &[Event<'a>], i: usize) -> usize {
        match &events[i] {
            Event::Start(Tag::Heading { level, .. }) => {
                let text = plain_text(&events[i + 1..], |e| {
                    matches!(e, Event::End(TagEnd::Heading(_)))
                });
                let id = self.slugger.unique(&text);
                self.heading(*level, id);
            }
            Event::Start(Tag::CodeBlock(_)) => {
                self.in_code += 1;
                self.out.push(events[i].clone());
            }
            Event::End(TagEnd::CodeBlock) => {
                self.in_code = self.in_code.saturating_sub(1);
                self.out.push(events[i].clone());
            }
            Event::Start(Tag::Paragraph) => {
                self.blocks.push((self.out.len(), "p"));
                self.out.push(events[i].clone());
            }
            Event::Start(Tag::Item) => {
                self.blocks.push((self.out.len(), "li"));
                self.out.push(events[i].clone());
            }
            Event::End(TagEnd::Paragraph | TagEnd::Item) => {
                self.block_id();
                self.out.push(events[i].clone());
            }
            Event::Start(Tag::Link {
                link_type,
                dest_url,
                title,
                ..
            }) => {
                let (open, close) = self.link(*link_type, dest_url, title);
                self.out.push(Event::InlineHtml(open.into()));
                if let LinkType::WikiLink { has_pothole: false } = link_type {
                    // `[[Note#Heading]]` reads "Note > Heading", `[[#Heading]]` "Heading", as
                    // in Obsidian.
                    let text = dest_url.trim_start_matches('#').replace('#', " > ");
                    self.out.push(Event::Text(text.into()));
                    self.out.push(Event::InlineHtml(close.into()));
                    return end_of_link(events, i) + 1;
                }
                self.closers.push(close);
                self.in_link += 1;
            }
            Event::End(TagEnd::Link) => {
                let close = self.closers.pop().unwrap_or("</a>");
                self.out.push(Event::InlineHtml(close.into()));
                self.in_link = self.in_link.saturating_sub(1);
            }
            Event::Start(Tag::Image {
                link_type,
                dest_url,
                title,
                ..
            }) => {
                let end = end_of_image(events, i);
                let alt = plain_text(&events[i + 1..end], |_| false);
                let html = self.image(*link_type, dest_url, title, &alt);
                self.out.push(Event::InlineHtml(html.into()));
                return end + 1;
            }
            Event::Text(text) if self.in_code == 0 && self.in_link == 0 => {
                self.linkify(text);
            }
            other => self.out.push(other.clone()),
        }
        i + 1
    }

    fn heading(&mut self, level: HeadingLevel, id: String) {
        self.out.push(Event::Start(Tag::Heading {
            level,
            id: Some(id.into()),
            classes: Vec::new(),
            attrs: Vec::new(),
        }));
    }

    /// A paragraph or list item ending in ` ^id` gets that id (the text loses it).
    fn block_id(&mut self) {
        let Some((start, tag)) = self.blocks.pop() else {
            return;
        };
        let Some(Event::Text(last)) = self.out.last() else {
            return;
        };
        let Some(caret) = last.rfind('^') else {
            return;
        };
        let id = &last[caret + 1..];
        let before = &last[..caret];
        let ok_id = !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        let ok_before = before.is_empty() || before.ends_with([' ', '\t']);
        if !ok_id || !ok_before {
            return;
        }
        let id = slug::block_id(id);
        let before = before.trim_end().to_string();
        let n = self.out.len();
        self.out[n - 1] = Event::Text(before.into());
        self.out[start] = Event::InlineHtml(format!("<{tag} id=\"{}\">", escape(&id)).into());
    }

    /// The opening and closing HTML of a link.
    fn link(&self, link_type: LinkType, dest: &str, title: &str) -> (String, &'static str) {
        let title_attr = if title.is_empty() {
            String::new()
        } else {
            format!(" title=\"{}\"", escape(title))
        };
        match link_type {
            LinkType::WikiLink { .. } => {
                let (file, frag) = split_fragment(dest);
                self.internal(
                    resolve::resolve(self.ctx.index, self.ctx.path, file),
                    file,
                    frag,
                )
            }
            LinkType::Email => (
                format!("<a href=\"mailto:{}\"{title_attr}>", escape(dest)),
                "</a>",
            ),
            _ if dest.starts_with('#') => {
                // `[x](#My%20Heading)`: the heading's id, as a wikilink would give it.
                let anchor = slug::fragment(&percent_decode(&dest[1..]));
                (
                    format!(
                        "<a href=\"#{}\"{title_attr}>",
                        escape(&urls::segment(&anchor))
                    ),
                    "</a>",
                )
            }
            _ if has_scheme(dest) || dest.starts_with("//") => {
                (format!("<a href=\"{}\"{title_attr}>", escape(dest)), "</a>")
            }
            _ => {
                let (file, frag) = split_fragment(dest);
                let file = percent_decode(file);
                let found = resolve::resolve_path(self.ctx.index, self.ctx.path, &file);
                let frag = frag.map(percent_decode);
                self.internal(found, &file, frag.as_deref())
            }
        }
    }

    /// A link to a file of the vault (or this note), resolved.
    fn internal(&self, found: Resolved, file: &str, frag: Option<&str>) -> (String, &'static str) {
        let anchor = frag
            .filter(|f| !f.is_empty())
            .map(|f| format!("#{}", urls::segment(&slug::fragment(f))))
            .unwrap_or_default();
        match found {
            Resolved::ThisNote => (
                format!("<a class=\"internal\" href=\"{}\">", escape(&anchor)),
                "</a>",
            ),
            Resolved::File { path, others } => {
                let href = format!("{}{anchor}", urls::note(self.ctx.vault, &path));
                if others.is_empty() {
                    (
                        format!("<a class=\"internal\" href=\"{}\">", escape(&href)),
                        "</a>",
                    )
                } else {
                    let title = format!(
                        "Ambiguous link: “{file}” also names {}; showing {path}",
                        others.join(", ")
                    );
                    (
                        format!(
                            "<a class=\"internal ambiguous\" href=\"{}\" title=\"{}\">",
                            escape(&href),
                            escape(&title)
                        ),
                        "<sup class=\"ambiguous-mark\" aria-hidden=\"true\">?</sup></a>",
                    )
                }
            }
            Resolved::Missing => (
                format!(
                    "<span class=\"missing\" title=\"{}\">",
                    escape(&format!("No note “{file}” in this vault"))
                ),
                "</span>",
            ),
        }
    }

    /// An image or an embed (`![[x]]`, `![](x)`).
    fn image(&self, link_type: LinkType, dest: &str, title: &str, alt: &str) -> String {
        let wiki = matches!(link_type, LinkType::WikiLink { .. });
        if !wiki && (has_scheme(dest) || dest.starts_with("//")) {
            // Remote images: kept, and the page's CSP does not load them.
            return format!(
                "<img src=\"{}\" alt=\"{}\" title=\"{}\">",
                escape(dest),
                escape(alt),
                escape(title)
            );
        }
        let (file, frag) = split_fragment(dest);
        let decoded;
        let found = if wiki {
            resolve::resolve(self.ctx.index, self.ctx.path, file)
        } else {
            decoded = percent_decode(file);
            resolve::resolve_path(self.ctx.index, self.ctx.path, &decoded)
        };
        let path = match found {
            Resolved::File { path, .. } => path,
            Resolved::ThisNote => self.ctx.path.to_string(),
            Resolved::Missing => {
                return format!(
                    "<span class=\"missing embed-missing\" title=\"{}\">{}</span>",
                    escape(&format!("No file “{file}” in this vault")),
                    escape(if wiki { file } else { alt })
                );
            }
        };
        let name = path.rsplit('/').next().unwrap_or(&path);
        if is_image(&path) {
            // `![[x.png|300]]` / `|300x200`: the size; any other text after `|` is the alt text.
            let (mut width, mut height, mut alt_text) = (None, None, alt.to_string());
            if wiki {
                alt_text = name.to_string();
                let (w, h) = alt.split_once('x').unwrap_or((alt, ""));
                if !alt.is_empty() && w.parse::<u32>().is_ok() {
                    width = Some(w.to_string());
                    height = h.parse::<u32>().ok().map(|h| h.to_string());
                } else if alt != file {
                    alt_text = alt.to_string();
                }
            }
            let mut html = format!(
                "<img src=\"{}\" alt=\"{}\"",
                escape(&urls::raw(self.ctx.vault, &path)),
                escape(&alt_text)
            );
            if let Some(w) = width {
                html.push_str(&format!(" width=\"{w}\""));
            }
            if let Some(h) = height {
                html.push_str(&format!(" height=\"{h}\""));
            }
            html.push('>');
            return html;
        }
        let href = urls::note(self.ctx.vault, &path);
        if resolve::is_note(&path)
            && path != self.ctx.path
            && let Some(read) = self.ctx.transclude
            && let Some(text) = read(&path)
        {
            let inner = NoteContext {
                vault: self.ctx.vault,
                path: &path,
                index: self.ctx.index,
                transclude: None,
            };
            let body = match vault::markdown::front_matter::locate(&text) {
                Some(fm) => &text[fm.body_start..],
                None => &text,
            };
            // `![[Note#Heading]]` / `![[Note#^id]]`: that section or block only (the whole
            // note when there is none by that name).
            let body = frag.and_then(|f| section(body, f)).unwrap_or(body);
            return format!(
                "<div class=\"embed\"><p class=\"embed-title\"><a class=\"internal\" href=\"{}\">{}</a></p>{}</div>",
                escape(&href),
                escape(name.trim_end_matches(".md")),
                render(&inner, body)
            );
        }
        // A note that may not be embedded here (itself, a second level, a loop) or another
        // kind of file: a link to its page.
        format!(
            "<a class=\"internal embed-link\" href=\"{}\">{}</a>",
            escape(&href),
            escape(name)
        )
    }

    /// Text with its bare URLs (`https://…`, `www.…`) and e-mail addresses made links.
    fn linkify(&mut self, text: &CowStr<'a>) {
        let mut finder = linkify::LinkFinder::new();
        finder.url_must_have_scheme(false);
        let mut last = 0;
        for link in finder.links(text) {
            let s = link.as_str();
            let lower = s.to_ascii_lowercase();
            let href = match link.kind() {
                linkify::LinkKind::Email => format!("mailto:{s}"),
                _ if lower.starts_with("http://") || lower.starts_with("https://") => s.to_string(),
                _ if lower.starts_with("www.") => format!("http://{s}"),
                _ => continue,
            };
            if link.start() > last {
                self.out
                    .push(Event::Text(text[last..link.start()].to_string().into()));
            }
            self.out.push(Event::InlineHtml(
                format!("<a href=\"{}\">{}</a>", escape(&href), escape(s)).into(),
            ));
            last = link.end();
        }
        if last == 0 {
            self.out.push(Event::Text(text.clone()));
        } else if last < text.len() {
            self.out.push(Event::Text(text[last..].to_string().into()));
        }
    }
}

/// The part of `text` a fragment names: `^id` the line ending in ` ^id`; a heading's slug
/// the heading and everything up to the next heading of the same or a higher level.
pub fn section<'t>(text: &'t str, frag: &str) -> Option<&'t str> {
    let last = frag.rsplit('#').next().unwrap_or(frag);
    if let Some(id) = last.strip_prefix('^') {
        let marker = format!("^{id}");
        return text.lines().find(|line| {
            let line = line.trim_end();
            line.ends_with(&marker) && line[..line.len() - marker.len()].ends_with([' ', '\t'])
        });
    }
    let want = slug::slug(last);
    let events: Vec<(Event, std::ops::Range<usize>)> = Parser::new_ext(text, options())
        .into_offset_iter()
        .collect();
    let mut start: Option<(usize, HeadingLevel)> = None;
    for (i, (event, range)) in events.iter().enumerate() {
        let Event::Start(Tag::Heading { level, .. }) = event else {
            continue;
        };
        match start {
            Some((from, open)) if *level <= open => return Some(&text[from..range.start]),
            Some(_) => {}
            None => {
                let mut title = String::new();
                for (e, _) in &events[i + 1..] {
                    match e {
                        Event::End(TagEnd::Heading(_)) => break,
                        Event::Text(t) | Event::Code(t) => title.push_str(t),
                        _ => {}
                    }
                }
                if slug::slug(&title) == want {
                    start = Some((range.start, *level));
                }
            }
        }
    }
    start.map(|(from, _)| &text[from..])
}

/// The index of the `End(Link)` closing the link that starts at `events[start]`.
fn end_of_link(events: &[Event], start: usize) -> usize {
    events[start..]
        .iter()
        .position(|e| matches!(e, Event::End(TagEnd::Link)))
        .map_or(events.len() - 1, |j| start + j)
}

/// The index of the `End(Image)` closing the image that starts at `events[start]`.
fn end_of_image(events: &[Event], start: usize) -> usize {
    let mut depth = 0;
    for (j, e) in events.iter().enumerate().skip(start) {
        match e {
            Event::Start(Tag::Image { .. }) => depth += 1,
            Event::End(TagEnd::Image) => {
                depth -= 1;
                if depth == 0 {
                    return j;
                }
            }
            _ => {}
        }
    }
    events.len() - 1
}

/// The text of `events` up to the first one `stop` accepts.
fn plain_text(events: &[Event], stop: impl Fn(&Event) -> bool) -> String {
    let mut out = String::new();
    for e in events {
        if stop(e) {
            break;
        }
        match e {
            Event::Text(t) | Event::Code(t) => out.push_str(t),
            Event::SoftBreak | Event::HardBreak => out.push(' '),
            _ => {}
        }
    }
    out
}
