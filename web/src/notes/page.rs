//! The folder, note and file pages.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use vault::paths::VaultPath;

use super::folder::{self, FileEntry, FolderEntry};
use crate::layout::Page;
use crate::render::markdown::{self, NoteContext};
use crate::render::props::{self, Prop};
use crate::render::resolve::is_note;
use crate::render::sanitize;
use crate::session::Viewer;
use crate::vaults::{HeadView, OpenedVault};
use crate::{Web, WebError, blocking, urls};

#[derive(Template)]
#[template(path = "folder.html")]
struct FolderPage {
    page: Page,
    empty_vault: bool,
    folders: Vec<FolderEntry>,
    files: Vec<FileEntry>,
}

#[derive(Template)]
#[template(path = "note.html")]
struct NotePage {
    page: Page,
    /// Show the note's name as the page's heading (not when the note starts with it).
    show_name: bool,
    name: String,
    file: FileEntry,
    history: String,
    props: Vec<Prop>,
    props_error: Option<String>,
    yaml: String,
    html: String,
    backlinks: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "file.html")]
struct FilePage {
    page: Page,
    file: FileEntry,
    history: String,
    image: bool,
}

pub(super) async fn root(
    State(web): State<Arc<Web>>,
    viewer: Viewer,
    Path(vault): Path<String>,
) -> Result<Response, WebError> {
    show_folder(web, viewer, vault, None).await
}

pub(super) async fn folder(
    State(web): State<Arc<Web>>,
    viewer: Viewer,
    Path((vault, path)): Path<(String, String)>,
) -> Result<Response, WebError> {
    let path = if path.trim_end_matches('/').is_empty() {
        None
    } else {
        Some(urls::parse_path(&path)?)
    };
    show_folder(web, viewer, vault, path).await
}

async fn show_folder(
    web: Arc<Web>,
    viewer: Viewer,
    vault: String,
    path: Option<VaultPath>,
) -> Result<Response, WebError> {
    let vault = web.open_vault(&viewer, &vault)?;
    let folder = path.as_ref().map_or("", |p| p.as_str()).to_string();
    let (view, listing) = {
        let folder = folder.clone();
        let vault = vault.clone();
        let web = web.clone();
        blocking(move || {
            let view = web.head_view(&vault)?;
            let listing = folder::listing(&vault.name, &view.files, &folder);
            Ok((view, listing))
        })
        .await?
    };
    warm_links(&web, &vault, &view);
    // The first page of a vault starts its search index too, so the first search finds it
    // ready.
    crate::search::warm(&web, &vault);
    let (folders, files) = listing.ok_or_else(|| {
        WebError::not_found(format!("there is no folder `{folder}` in this vault"))
    })?;
    let title = if folder.is_empty() {
        vault.name.clone()
    } else {
        folder.rsplit('/').next().unwrap_or(&folder).to_string()
    };
    let html = FolderPage {
        page: Page::of(&viewer, title)
            .in_vault(&vault.name, "files")
            .at_path(&format!("{folder}/")),
        // No snapshot yet, or one without files: say how a vault gets its files.
        empty_vault: folder.is_empty() && view.files.is_empty(),
        folders,
        files,
    }
    .render()
    .map_err(WebError::internal)?;
    Ok(Html(html).into_response())
}

/// Build the link graph of a head in the background when a folder is shown, so the first
/// note opened from it after a start (or a large change) does not wait for every note to be
/// read.
fn warm_links(web: &Arc<Web>, vault: &OpenedVault, view: &Arc<HeadView>) {
    if web.notes.graph_started(vault, view) {
        return;
    }
    let (web, vault, view) = (web.clone(), vault.clone(), view.clone());
    std::thread::spawn(move || {
        // Errors are logged where they happen; the next note page tries again.
        let _ = web.notes.linked_from(&vault, &view, "");
    });
}

pub(super) async fn note(
    State(web): State<Arc<Web>>,
    viewer: Viewer,
    Path((vault, path)): Path<(String, String)>,
) -> Result<Response, WebError> {
    let path = urls::parse_path(&path)?;
    let vault = web.open_vault(&viewer, &vault)?;
    let page = Page::of(&viewer, path.file_name())
        .in_vault(&vault.name, "files")
        .at_path(path.as_str());
    blocking(move || {
        let view = web.head_view(&vault)?;
        let Some(meta) = view.files.get(&path) else {
            // A folder's path without `f/`: its listing.
            if folder::listing(&vault.name, &view.files, path.as_str()).is_some() {
                return Ok(Redirect::to(&urls::folder(&vault.name, path.as_str())).into_response());
            }
            return Err(WebError::not_found(format!(
                "there is no note or file `{path}` in this vault"
            )));
        };
        let parent = path.parent().map(|p| p.to_string()).unwrap_or_default();
        let file = folder::listing(&vault.name, &view.files, &parent)
            .and_then(|(_, files)| files.into_iter().find(|f| f.name == path.file_name()))
            .ok_or_else(|| WebError::internal("a file of the head is not in its folder"))?;
        let history = format!(
            "{}history/{}",
            urls::vault(&vault.name),
            urls::path(path.as_str())
        );
        let html = if is_note(path.as_str()) {
            let bytes = vault.blob(meta.id)?;
            render_note(
                &web,
                &vault,
                &view,
                page,
                path.as_str(),
                file,
                history,
                &bytes,
            )?
        } else {
            let image = markdown::is_image(path.as_str());
            FilePage {
                page,
                file,
                history,
                image,
            }
            .render()
            .map_err(WebError::internal)?
        };
        Ok(Html(html).into_response())
    })
    .await
}

#[allow(clippy::too_many_arguments)]
fn render_note(
    web: &Web,
    vault: &OpenedVault,
    view: &HeadView,
    page: Page,
    path: &str,
    file: FileEntry,
    history: String,
    bytes: &[u8],
) -> Result<String, WebError> {
    let text = String::from_utf8_lossy(bytes);
    let (yaml, body) = match vault::markdown::front_matter::locate(&text) {
        Some(fm) => (&text[fm.yaml.clone()], &text[fm.body_start..]),
        None => ("", &text[vault::markdown::front_matter::bom_len(&text)..]),
    };
    let (props, props_error) = match props::properties(yaml) {
        Ok(p) => (p, None),
        Err(e) => (Vec::new(), Some(e)),
    };
    let index = web.notes.paths(vault, view);
    let read = |p: &str| -> Option<String> {
        let meta = view.files.get(&VaultPath::new(p).ok()?)?;
        let bytes = vault.blob(meta.id).ok()?;
        Some(String::from_utf8_lossy(&bytes).into_owned())
    };
    let ctx = NoteContext {
        vault: &vault.name,
        path,
        index: &index,
        transclude: Some(&read),
    };
    let html = sanitize::clean(&markdown::render(&ctx, body));
    let backlinks = web
        .notes
        .linked_from(vault, view, path)?
        .into_iter()
        .map(|p| {
            let href = urls::note(&vault.name, &p);
            (p.trim_end_matches(".md").to_string(), href)
        })
        .collect();
    let name = file.name.trim_end_matches(".md").to_string();
    // A note that starts with its own name as a `# heading` has that as the page's heading.
    let first_line = body.trim_start().lines().next().unwrap_or("");
    let show_name = first_line
        .strip_prefix("# ")
        .is_none_or(|h| !h.trim().eq_ignore_ascii_case(&name));
    NotePage {
        page,
        show_name,
        name,
        file,
        history,
        props,
        yaml: if props_error.is_some() {
            yaml.to_string()
        } else {
            String::new()
        },
        props_error,
        html,
        backlinks,
    }
    .render()
    .map_err(WebError::internal)
}
