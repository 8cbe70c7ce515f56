//! Read-only analysis over a [`World`](kmsgov_authz::World): who can use a
//! key and by which path, what a principal can reach, policy lint and diff,
//! and the page that draws decision paths.
//!
//! Every answer comes from the authorization engine (`kmsgov-authz`): the
//! analysis enumerates candidate requests and hops, the engine decides each
//! one. Nothing here performs I/O, and the same world gives the same answer.

#![warn(missing_docs)]
#![deny(rustdoc::broken_intra_doc_links)]

pub mod diff;
pub mod lint;
pub mod reach;
pub mod viewer;
