//! The pure parts of showing a note (no I/O, tested beside the code): markdown to HTML with
//! Obsidian's links and embeds ([`markdown`]), where a link points ([`resolve`]), heading ids
//! ([`slug`]), the front matter table ([`props`]), the links a note makes ([`links`]) and the
//! sanitiser every note's HTML passes through ([`sanitize`]).

pub mod graph;
pub mod links;
pub mod markdown;
pub mod props;
pub mod resolve;
pub mod sanitize;
pub mod slug;

#[cfg(test)]
mod tests;
