//! Placeholder: tests land with the work.
