//! The frame every page shares (templates/base.html): title, navigation, breadcrumbs, the
//! logout form with its CSRF token.

use crate::session::Viewer;
use crate::urls;

/// One step of the breadcrumbs.
#[derive(Debug, Clone)]
pub struct Crumb {
    pub label: String,
    pub href: String,
}

/// One link of a vault's navigation.
#[derive(Debug, Clone)]
pub struct NavItem {
    pub label: &'static str,
    pub href: String,
    pub current: bool,
}

/// What the frame of a page shows. Every page template has a `page: Page` field and extends
/// `base.html`.
#[derive(Debug, Clone, Default)]
pub struct Page {
    pub title: String,
    /// The logged-in user, if any (no navigation otherwise).
    pub user: Option<String>,
    /// This session's CSRF token, for the forms of the page.
    pub csrf: String,
    /// The vault the page is in, for the vault's navigation.
    pub vault: Option<String>,
    /// Which part of the vault's navigation is current: "files", "tasks", "search",
    /// "history", "revisions".
    pub section: &'static str,
    pub crumbs: Vec<Crumb>,
}

impl Page {
    /// A page outside any session (login, errors).
    pub fn bare(title: &str) -> Page {
        Page {
            title: title.to_string(),
            ..Page::default()
        }
    }

    /// A page of `viewer`'s.
    pub fn of(viewer: &Viewer, title: impl Into<String>) -> Page {
        Page {
            title: title.into(),
            user: Some(viewer.user.clone()),
            csrf: viewer.csrf.clone(),
            ..Page::default()
        }
    }

    /// In vault `vault`, part `section` of its navigation; the crumbs start at the vault.
    pub fn in_vault(mut self, vault: &str, section: &'static str) -> Page {
        self.vault = Some(vault.to_string());
        self.section = section;
        self.crumbs = vec![Crumb {
            label: vault.to_string(),
            href: urls::folder(vault, ""),
        }];
        self
    }

    /// Crumbs for each folder above (and including) `path`, after the vault's.
    pub fn at_path(mut self, path: &str) -> Page {
        let vault = self.vault.clone().unwrap_or_default();
        let mut sofar = String::new();
        let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        for (i, part) in parts.iter().enumerate() {
            if !sofar.is_empty() {
                sofar.push('/');
            }
            sofar.push_str(part);
            let last = i + 1 == parts.len();
            self.crumbs.push(Crumb {
                label: part.to_string(),
                href: if last && !path.ends_with('/') {
                    urls::note(&vault, &sofar)
                } else {
                    urls::folder(&vault, &sofar)
                },
            });
        }
        self
    }

    /// The vault's navigation, current part marked.
    pub fn nav_items(&self) -> Vec<NavItem> {
        [
            ("files", "Files"),
            ("tasks", "Tasks"),
            ("search", "Search"),
            ("history", "History"),
            ("revisions", "Revisions"),
        ]
        .into_iter()
        .map(|(key, label)| NavItem {
            label,
            href: self.nav(key),
            current: self.section == key,
        })
        .collect()
    }

    /// The URL of the vault's part `section` (for the navigation).
    pub fn nav(&self, section: &str) -> String {
        let vault = self.vault.as_deref().unwrap_or_default();
        match section {
            "files" => urls::folder(vault, ""),
            other => format!("{}{other}", urls::vault(vault)),
        }
    }
}
