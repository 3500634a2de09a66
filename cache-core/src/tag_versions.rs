//! Tag versions: how `invalidate_tag` makes every entry with a tag a miss in O(1).
//!
//! Each tag has a version counter (in L2 when there is one, mirrored here). An entry records the
//! versions of its tags when it was loaded; it is valid while no tag has moved past that. This
//! costs one counter bump per invalidation and no index of keys per tag, so it stays cheap with
//! millions of entries; the price is one lookup per tag on a tagged hit (and one L2 read of the tag
//! versions on a tagged L2 hit).
//!
//! Versions here only rise (the highest seen wins), so a version L2 lost or rolled back never
//! revives an entry on this instance. The L2 makes its versions never go backwards either
//! (`RedisL2`: hybrid logical clocks, a lost record reads as "now"); a local bump while L2 is
//! unreachable is one above the highest seen, and its replay in L2 lands at or above it.

use std::collections::HashMap;

use parking_lot::RwLock;

use crate::envelope::TagStamp;

/// The versions this instance knows for each tag (0 for a tag never invalidated).
#[derive(Debug, Default)]
pub(crate) struct TagVersions {
    versions: RwLock<HashMap<String, u64>>,
}

impl TagVersions {
    pub(crate) fn current(&self, tag: &str) -> u64 {
        self.versions.read().get(tag).copied().unwrap_or(0)
    }

    /// Whether no tag in `stamps` has moved past the stamped version.
    #[inline]
    pub(crate) fn still_valid(&self, stamps: &[TagStamp]) -> bool {
        stamps.is_empty() || self.stamps_valid(stamps)
    }

    fn stamps_valid(&self, stamps: &[TagStamp]) -> bool {
        let versions = self.versions.read();
        stamps
            .iter()
            .all(|s| versions.get(s.tag.as_str()).is_none_or(|&v| v <= s.version))
    }

    /// Learns that `tag` is at least at `version` (from L2 or the backplane).
    pub(crate) fn raise(&self, tag: &str, version: u64) {
        if self.current(tag) >= version {
            return;
        }
        let mut map = self.versions.write();
        let v = map.entry(tag.to_owned()).or_insert(0);
        *v = (*v).max(version);
    }

    /// Invalidates `tag` locally (no L2, or L2 unreachable); returns the new version.
    pub(crate) fn bump_local(&self, tag: &str) -> u64 {
        let mut map = self.versions.write();
        let v = map.entry(tag.to_owned()).or_insert(0);
        *v += 1;
        *v
    }

    /// Stamps for `tags` from the local versions.
    pub(crate) fn stamps(&self, tags: &[String]) -> Vec<TagStamp> {
        let versions = self.versions.read();
        tags.iter()
            .map(|t| TagStamp {
                tag: t.clone(),
                version: versions.get(t.as_str()).copied().unwrap_or(0),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(tag: &str, version: u64) -> TagStamp {
        TagStamp {
            tag: tag.into(),
            version,
        }
    }

    #[test]
    fn local_bumps_count_up_from_zero() {
        let tags = TagVersions::default();
        assert_eq!(tags.current("t"), 0);
        assert_eq!(tags.bump_local("t"), 1);
        assert_eq!(tags.bump_local("t"), 2);
        assert_eq!(tags.current("t"), 2);
        assert_eq!(tags.current("other"), 0, "tags are independent");
    }

    #[test]
    fn raise_only_moves_forward() {
        let tags = TagVersions::default();
        tags.raise("t", 5);
        assert_eq!(tags.current("t"), 5);
        tags.raise("t", 3);
        assert_eq!(tags.current("t"), 5, "an older version never lowers it");
        tags.raise("t", 6);
        assert_eq!(tags.current("t"), 6);
    }

    #[test]
    fn a_stamp_is_valid_until_its_tag_moves_past_it() {
        let tags = TagVersions::default();
        assert!(tags.still_valid(&[]));
        assert!(tags.still_valid(&[stamp("never-bumped", 0)]));
        tags.raise("t", 2);
        assert!(tags.still_valid(&[stamp("t", 2)]), "same version");
        assert!(
            tags.still_valid(&[stamp("t", 3)]),
            "stamped after a newer bump"
        );
        assert!(!tags.still_valid(&[stamp("t", 1)]), "invalidated since");
        assert!(
            !tags.still_valid(&[stamp("never-bumped", 0), stamp("t", 1)]),
            "one invalidated tag is enough"
        );
    }

    #[test]
    fn stamps_carry_the_current_versions() {
        let tags = TagVersions::default();
        tags.raise("a", 4);
        let stamps = tags.stamps(&["a".to_string(), "b".to_string()]);
        assert_eq!(stamps, vec![stamp("a", 4), stamp("b", 0)]);
    }
}
