//! The tasks page's filters: the GET form's fields read into `syncd tasks`'s own
//! [`TaskQuery`] (same meanings and defaults), and written back into a query string for the
//! links and redirects that keep them. Pure.

use jiff::civil::Date;
use serde::Deserialize;
use vault::markdown::parse_day;
use vault::tasks::{PathFilter, StateFilter, TaskQuery};

use crate::urls;

/// The filters as the form sends them (every field optional; empty means "not set").
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct Filters {
    /// `open` (the default), `done` or `all`.
    #[serde(default)]
    pub status: String,
    /// `YYYY-MM-DD`, `today`, `tomorrow` or `yesterday`.
    #[serde(default)]
    pub due_before: String,
    #[serde(default)]
    pub tag: String,
    /// A glob over note paths, as `syncd tasks --path`.
    #[serde(default)]
    pub path: String,
}

impl Filters {
    /// The query `syncd tasks` would run with these options, or what is wrong with one of
    /// them, in the reader's terms.
    pub fn query(&self, today: Date) -> Result<TaskQuery, String> {
        let state = match self.status.trim() {
            "" | "open" => StateFilter::Open,
            "done" => StateFilter::Done,
            "all" => StateFilter::All,
            other => {
                return Err(format!(
                    "`{other}` is not a status to filter by; choose open, done or all"
                ));
            }
        };
        let due_before = match self.due_before.trim() {
            "" => None,
            text => Some(parse_day(text, today).ok_or_else(|| {
                format!("`{text}` is not a day; write YYYY-MM-DD (2026-12-01), today or tomorrow")
            })?),
        };
        let tag = Some(self.tag.trim())
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        let path = match self.path.trim() {
            "" => None,
            glob => Some(PathFilter::new(glob).map_err(|_| {
                format!(
                    "`{glob}` is not a folder or glob; write e.g. `projects`, `daily/2026-*` or `**/*.md`"
                )
            })?),
        };
        Ok(TaskQuery {
            state,
            due_before,
            tag,
            path,
        })
    }

    /// The filters as a query string (`status=done&tag=work`), only the fields that are set.
    pub fn query_string(&self) -> String {
        [
            ("status", &self.status),
            ("due_before", &self.due_before),
            ("tag", &self.tag),
            ("path", &self.path),
        ]
        .into_iter()
        .filter(|(_, v)| !v.trim().is_empty())
        .map(|(k, v)| format!("{k}={}", urls::segment(v.trim())))
        .collect::<Vec<_>>()
        .join("&")
    }

    /// The status as the form's select shows it.
    pub fn status_or_default(&self) -> &str {
        match self.status.trim() {
            "" => "open",
            s => s,
        }
    }
}

/// The tasks page of `vault` with `filters`, and a fragment (`#t-…`) if any.
pub fn tasks_url(vault: &str, filters: &Filters, fragment: Option<&str>) -> String {
    let mut url = format!("{}tasks", urls::vault(vault));
    let query = filters.query_string();
    if !query.is_empty() {
        url.push('?');
        url.push_str(&query);
    }
    if let Some(f) = fragment {
        url.push('#');
        url.push_str(f);
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;
    use vault::VaultPath;

    fn today() -> Date {
        jiff::civil::date(2026, 12, 5)
    }

    fn f(status: &str, due: &str, tag: &str, path: &str) -> Filters {
        Filters {
            status: status.into(),
            due_before: due.into(),
            tag: tag.into(),
            path: path.into(),
        }
    }

    #[test]
    fn empty_filters_are_syncd_tasks_defaults() {
        let q = Filters::default().query(today()).unwrap();
        assert_eq!(q.state, StateFilter::Open);
        assert!(q.due_before.is_none() && q.tag.is_none() && q.path.is_none());
    }

    #[test]
    fn every_field_reads_like_the_cli_option() {
        let q = f("done", "today", " #work ", "projects")
            .query(today())
            .unwrap();
        assert_eq!(q.state, StateFilter::Done);
        assert_eq!(q.due_before, Some(today()));
        assert_eq!(q.tag.as_deref(), Some("#work"));
        let p = q.path.unwrap();
        assert!(p.matches(&VaultPath::new("projects/Plan.md").unwrap()));
        assert!(!p.matches(&VaultPath::new("Home.md").unwrap()));
        assert_eq!(
            f("all", "2026-12-10", "", "").query(today()).unwrap().state,
            StateFilter::All
        );
    }

    #[test]
    fn bad_values_are_explained() {
        assert!(
            f("nope", "", "", "")
                .query(today())
                .unwrap_err()
                .contains("open, done or all")
        );
        assert!(
            f("", "2026-02-30", "", "")
                .query(today())
                .unwrap_err()
                .contains("YYYY-MM-DD")
        );
        assert!(
            f("", "", "", "a[")
                .query(today())
                .unwrap_err()
                .contains("glob")
        );
    }

    #[test]
    fn urls_keep_the_filters_encoded() {
        assert_eq!(
            tasks_url("notes", &Filters::default(), None),
            "/v/notes/tasks"
        );
        assert_eq!(
            tasks_url("notes", &f("all", "", "a&b=c", "x y/*"), Some("t-abc")),
            "/v/notes/tasks?status=all&tag=a%26b%3Dc&path=x%20y%2F%2A#t-abc"
        );
    }
}
