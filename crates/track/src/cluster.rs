//! Clustering of the gating graph into independent association problems.
//!
//! Tracks and detections are nodes; every gated (track, detection) pair is an
//! edge. Connected components never compete for a detection, so each is
//! solved on its own, which keeps every assignment problem as small as the
//! local crowding rather than the whole picture.

/// Union-find over `0..n` with path halving and union by size; the buffers
/// are reused from scan to scan.
#[derive(Debug, Default, Clone)]
pub(crate) struct DisjointSets {
    parent: Vec<u32>,
    size: Vec<u32>,
}

impl DisjointSets {
    /// Resets to `n` singleton sets.
    pub(crate) fn reset(&mut self, n: u32) {
        self.parent.clear();
        self.parent.extend(0..n);
        self.size.clear();
        self.size.resize(n as usize, 1);
    }

    /// Representative of `node`'s set; out-of-range nodes are their own.
    pub(crate) fn find(&mut self, mut node: u32) -> u32 {
        while let Some(&parent) = self.parent.get(node as usize) {
            if parent == node {
                break;
            }
            let grandparent = self.parent.get(parent as usize).copied().unwrap_or(parent);
            if let Some(slot) = self.parent.get_mut(node as usize) {
                *slot = grandparent;
            }
            node = grandparent;
        }
        node
    }

    /// Merges the sets of `a` and `b`.
    pub(crate) fn union(&mut self, a: u32, b: u32) {
        let (root_a, root_b) = (self.find(a), self.find(b));
        if root_a == root_b {
            return;
        }
        let size_of = |sets: &Self, root: u32| sets.size.get(root as usize).copied().unwrap_or(1);
        let (small, large) = if size_of(self, root_a) < size_of(self, root_b) {
            (root_a, root_b)
        } else {
            (root_b, root_a)
        };
        let merged = size_of(self, small) + size_of(self, large);
        if let Some(slot) = self.parent.get_mut(small as usize) {
            *slot = large;
        }
        if let Some(slot) = self.size.get_mut(large as usize) {
            *slot = merged;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unions_form_components() {
        let mut sets = DisjointSets::default();
        sets.reset(6);
        sets.union(0, 1);
        sets.union(2, 3);
        sets.union(1, 3);
        assert_eq!(sets.find(0), sets.find(2));
        assert_ne!(sets.find(0), sets.find(4));
        assert_eq!(sets.find(5), 5);
        assert_eq!(sets.find(99), 99);
    }
}
