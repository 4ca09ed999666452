//! A file's current bytes (`/v/{vault}/raw/{path}`), served so that a browser never runs
//! them: its Content-Type from its extension, `nosniff`, and `attachment` for anything a
//! browser could execute (HTML, SVG, XML, scripts, anything unknown).

/// How a file is served: its Content-Type and whether the browser may show it inline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Serving {
    pub content_type: String,
    pub inline: bool,
}

/// Types shown in the page (never executed): images but SVG, PDF, plain text, audio, video.
fn safe_inline(mime: &str) -> bool {
    let (top, sub) = mime.split_once('/').unwrap_or((mime, ""));
    match top {
        "image" => sub != "svg+xml",
        "audio" | "video" => true,
        "text" => matches!(sub, "plain" | "markdown" | "csv"),
        "application" => sub == "pdf",
        _ => false,
    }
}

/// How the file at `path` is served.
pub fn serving(path: &str) -> Serving {
    let name = path.rsplit('/').next().unwrap_or(path);
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    let mime = match ext.as_deref() {
        // Notes and other text people keep in a vault, as text.
        Some("md" | "markdown" | "txt" | "log" | "org" | "canvas") => "text/plain".to_string(),
        Some("csv") => "text/csv".to_string(),
        Some(ext) => mime_guess::from_ext(ext)
            .first_raw()
            .unwrap_or("application/octet-stream")
            .to_string(),
        None => "application/octet-stream".to_string(),
    };
    let inline = safe_inline(&mime);
    let content_type = if mime.starts_with("text/") {
        format!("{mime}; charset=utf-8")
    } else {
        mime
    };
    Serving {
        content_type,
        inline,
    }
}

/// The `Content-Disposition` value for `name`: inline or attachment, the name encoded both
/// ways (RFC 6266: an ASCII fallback without quotes or controls, and UTF-8).
pub fn disposition(name: &str, inline: bool) -> String {
    let fallback: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!(
        "{}; filename=\"{fallback}\"; filename*=UTF-8''{}",
        if inline { "inline" } else { "attachment" },
        crate::urls::segment(name)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_may_be_shown_inline() {
        for (path, ctype, inline) in [
            ("a/logo.png", "image/png", true),
            ("photo.JPG", "image/jpeg", true),
            ("Note.md", "text/plain; charset=utf-8", true),
            ("doc.pdf", "application/pdf", true),
            ("song.mp3", "audio/mpeg", true),
            ("clip.mp4", "video/mp4", true),
            ("page.html", "text/html; charset=utf-8", false),
            ("page.HTM", "text/html; charset=utf-8", false),
            ("drawing.svg", "image/svg+xml", false),
            ("feed.xml", "text/xml; charset=utf-8", false),
            ("app.js", "text/javascript; charset=utf-8", false),
            ("x.xhtml", "application/xhtml+xml", false),
            ("no-extension", "application/octet-stream", false),
            ("weird.zzzz", "application/octet-stream", false),
        ] {
            let s = serving(path);
            assert_eq!(
                (s.content_type.as_str(), s.inline),
                (ctype, inline),
                "{path}"
            );
        }
    }

    #[test]
    fn dispositions() {
        assert_eq!(
            disposition("a \"b\".html", false),
            "attachment; filename=\"a _b_.html\"; filename*=UTF-8''a%20%22b%22.html"
        );
        assert_eq!(
            disposition("日記.png", true),
            "inline; filename=\"__.png\"; filename*=UTF-8''%E6%97%A5%E8%A8%98.png"
        );
    }
}
