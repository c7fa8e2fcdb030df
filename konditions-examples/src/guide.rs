//! The user guide's pages (`docs/*.md`), compiled and run as doc tests:
//! every `rust` block of the guide is a test of konditions-examples.

#[doc = include_str!("../../docs/README.md")]
pub struct Index;

#[doc = include_str!("../../docs/quick-start.md")]
pub struct QuickStart;

#[doc = include_str!("../../docs/concepts.md")]
pub struct Concepts;

#[doc = include_str!("../../docs/conventions.md")]
pub struct Conventions;

#[doc = include_str!("../../docs/lock.md")]
pub struct TheLock;

#[doc = include_str!("../../docs/several-controllers.md")]
pub struct SeveralControllers;

#[doc = include_str!("../../docs/testing.md")]
pub struct Testing;

#[doc = include_str!("../../docs/migrating-from-konditionner.md")]
pub struct MigratingFromKonditionner;

#[doc = include_str!("../../docs/postgres-writer.md")]
pub struct PostgresWriterWalkThrough;

#[doc = include_str!("../../docs/health.md")]
pub struct Health;

#[doc = include_str!("../../docs/production.md")]
pub struct Production;

#[doc = include_str!("../../docs/design.md")]
pub struct DesignDecisions;

#[doc = include_str!("../../docs/stale-caches.md")]
pub struct StaleCaches;

#[doc = include_str!("../../docs/sharing.md")]
pub struct Sharing;

#[doc = include_str!("../../docs/children.md")]
pub struct Children;
