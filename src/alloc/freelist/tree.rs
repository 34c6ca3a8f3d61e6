//! The mechanism behind the free-list family: an index of free blocks by address that answers
//! every question the policies ask in O(log n) in free blocks.
//!
//! [`FreeTree`] is a treap (a binary search tree keyed by block address, heap-ordered by a
//! pseudo-random priority) stored in a `Vec` arena with `u32` links, parent links included so
//! that every operation is a loop, not a recursion. Each node also stores the largest block size
//! in its subtree, which lets a descent skip every subtree where no block is large enough.
//!
//! Priorities come from a xorshift generator with a fixed seed, so the shape of the tree, and so
//! the cost of a replay, is the same on every run. The shape never affects *which* block is
//! found: every query is defined by address and size alone.
//!
//! Costs (n = free blocks; "expected" is over the priorities, independent of the trace):
//! every query and update is O(log n) expected; [`FreeTree::largest`] is O(1). Inserting reuses
//! the slot of a removed node, so the arena only grows when the number of free blocks reaches a
//! new maximum.

use crate::alloc::{Addr, Bytes};

/// A free block in a [`FreeTree`]. Valid until that block is removed; a removed block's id may be
/// reused by a later insert.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BlockId(u32);

impl BlockId {
    /// The smallest id, for range queries over keys that end in a `BlockId`.
    pub const MIN: BlockId = BlockId(0);
}

/// The null link.
const NIL: u32 = u32::MAX;

#[derive(Clone, Copy, Debug)]
struct Node {
    addr: Addr,
    size: Bytes,
    /// The largest `size` in the subtree rooted here, this node included.
    max: Bytes,
    left: u32,
    right: u32,
    parent: u32,
    /// Heap order: a node's priority is at least its children's.
    priority: u32,
}

/// Free blocks ordered by address.
///
/// Invariants: blocks are ordered by `addr` in in-order traversal (the tree does not check that
/// blocks are disjoint; the caller keeps them so); every `max` is the largest size in its subtree;
/// parent links mirror child links; priorities are heap-ordered.
#[derive(Clone, Debug)]
pub struct FreeTree {
    /// The arena. Slots listed in `vacant` are unused.
    nodes: Vec<Node>,
    vacant: Vec<u32>,
    root: u32,
    len: usize,
    /// State of the xorshift32 generator for priorities (never 0).
    seed: u32,
}

impl Default for FreeTree {
    fn default() -> FreeTree {
        FreeTree::new()
    }
}

impl FreeTree {
    pub fn new() -> FreeTree {
        FreeTree { nodes: Vec::new(), vacant: Vec::new(), root: NIL, len: 0, seed: 0x9E37_79B9 }
    }

    /// Number of free blocks. O(1).
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// `(addr, size)` of a block. O(1).
    #[inline]
    pub fn get(&self, id: BlockId) -> (Addr, Bytes) {
        let node = &self.nodes[id.0 as usize];
        (node.addr, node.size)
    }

    /// The size of the largest block, 0 if there is none. O(1).
    #[inline]
    pub fn largest(&self) -> Bytes {
        if self.root == NIL {
            0
        } else {
            self.node(self.root).max
        }
    }

    /// The lowest-addressed block with `size >= need`. O(log n).
    pub fn first_fit(&self, need: Bytes) -> Option<BlockId> {
        self.leftmost_fit(self.root, need)
    }

    /// The lowest-addressed block that ends above `after` and has `size >= need`. O(log n).
    ///
    /// Blocks are disjoint, so their ends rise with their addresses: the blocks ending above
    /// `after` are a suffix of the address order, starting with the block that contains `after`
    /// or else the next one.
    pub fn first_fit_ending_above(&self, after: Addr, need: Bytes) -> Option<BlockId> {
        if self.largest() < need {
            return None;
        }
        // The first block of the suffix.
        let mut x = self.root;
        let mut first = NIL;
        while x != NIL {
            let node = self.node(x);
            if node.addr + node.size > after {
                first = x;
                x = node.left;
            } else {
                x = node.right;
            }
        }
        // Walk the suffix in address order, skipping every subtree too small to hold `need`.
        // Each step either descends into a subtree that surely holds the answer or climbs one
        // level, so this is O(depth).
        x = first;
        while x != NIL {
            let node = self.node(x);
            if node.size >= need {
                return Some(BlockId(x));
            }
            if let Some(found) = self.leftmost_fit(node.right, need) {
                return Some(found);
            }
            // Climb to the nearest ancestor whose left subtree we were in: it is next in order.
            loop {
                let parent = self.node(x).parent;
                if parent == NIL {
                    return None;
                }
                let came_from_left = self.node(parent).left == x;
                x = parent;
                if came_from_left {
                    break;
                }
            }
        }
        None
    }

    /// The highest-addressed block below `addr` and the lowest-addressed block at or above it.
    /// O(log n).
    pub fn around(&self, addr: Addr) -> (Option<BlockId>, Option<BlockId>) {
        let (mut below, mut above) = (NIL, NIL);
        let mut x = self.root;
        while x != NIL {
            let node = self.node(x);
            if node.addr < addr {
                below = x;
                x = node.right;
            } else {
                above = x;
                x = node.left;
            }
        }
        (Self::id(below), Self::id(above))
    }

    /// The block that starts exactly at `addr`, if any. O(log n).
    pub fn starting_at(&self, addr: Addr) -> Option<BlockId> {
        let mut x = self.root;
        while x != NIL {
            let node = self.node(x);
            if addr == node.addr {
                return Some(BlockId(x));
            }
            x = if addr < node.addr { node.left } else { node.right };
        }
        None
    }

    /// The highest-addressed block. O(log n).
    pub fn last(&self) -> Option<BlockId> {
        let mut x = self.root;
        if x == NIL {
            return None;
        }
        while self.node(x).right != NIL {
            x = self.node(x).right;
        }
        Some(BlockId(x))
    }

    /// Add a block. The caller keeps blocks disjoint. O(log n).
    pub fn insert(&mut self, addr: Addr, size: Bytes) -> BlockId {
        let priority = self.next_priority();
        let node = Node { addr, size, max: size, left: NIL, right: NIL, parent: NIL, priority };
        let x = match self.vacant.pop() {
            Some(slot) => {
                self.nodes[slot as usize] = node;
                slot
            }
            None => {
                let slot = u32::try_from(self.nodes.len())
                    .ok()
                    .filter(|&slot| slot != NIL)
                    .expect("more than 2^32 - 1 free blocks");
                self.nodes.push(node);
                slot
            }
        };
        self.len += 1;
        if self.root == NIL {
            self.root = x;
            return BlockId(x);
        }
        // Descend to a leaf position; the new block joins every subtree on the way.
        let mut parent = self.root;
        loop {
            let p = &mut self.nodes[parent as usize];
            p.max = p.max.max(size);
            let link = if addr < p.addr { &mut p.left } else { &mut p.right };
            if *link == NIL {
                *link = x;
                break;
            }
            parent = *link;
        }
        self.nodes[x as usize].parent = parent;
        while self.node(x).parent != NIL && priority > self.node(self.node(x).parent).priority {
            self.rotate_up(x);
        }
        BlockId(x)
    }

    /// Remove a block. O(log n).
    pub fn remove(&mut self, id: BlockId) {
        let x = id.0;
        // Rotate the node down until it has at most one child, then splice it out.
        loop {
            let node = self.node(x);
            if node.left == NIL || node.right == NIL {
                break;
            }
            let child = if self.node(node.left).priority >= self.node(node.right).priority {
                node.left
            } else {
                node.right
            };
            self.rotate_up(child);
        }
        let node = *self.node(x);
        let child = if node.left != NIL { node.left } else { node.right };
        if child != NIL {
            self.nodes[child as usize].parent = node.parent;
        }
        self.replace_child(node.parent, x, child);
        self.refresh_upward(node.parent);
        self.vacant.push(x);
        self.len -= 1;
    }

    /// Change a block's address and size in place. The caller guarantees the block keeps its
    /// place in address order (it stays between its neighbours). O(log n).
    pub fn set(&mut self, id: BlockId, addr: Addr, size: Bytes) {
        let node = &mut self.nodes[id.0 as usize];
        node.addr = addr;
        node.size = size;
        self.refresh_upward(id.0);
    }

    /// Every block as `(addr, size)`, in address order. O(n).
    pub fn blocks(&self) -> impl Iterator<Item = (Addr, Bytes)> + '_ {
        let mut x = self.root;
        if x != NIL {
            while self.node(x).left != NIL {
                x = self.node(x).left;
            }
        }
        std::iter::from_fn(move || {
            if x == NIL {
                return None;
            }
            let here = self.node(x);
            let item = (here.addr, here.size);
            x = self.successor(x);
            Some(item)
        })
    }

    fn successor(&self, mut x: u32) -> u32 {
        if self.node(x).right != NIL {
            x = self.node(x).right;
            while self.node(x).left != NIL {
                x = self.node(x).left;
            }
            return x;
        }
        loop {
            let parent = self.node(x).parent;
            if parent == NIL || self.node(parent).left == x {
                return parent;
            }
            x = parent;
        }
    }

    /// The leftmost block with `size >= need` in the subtree rooted at `x`.
    fn leftmost_fit(&self, mut x: u32, need: Bytes) -> Option<BlockId> {
        if x == NIL || self.node(x).max < need {
            return None;
        }
        loop {
            let node = self.node(x);
            if node.left != NIL && self.node(node.left).max >= need {
                x = node.left;
            } else if node.size >= need {
                return Some(BlockId(x));
            } else {
                // `max >= need` and neither the left subtree nor this node has it.
                x = node.right;
            }
        }
    }

    #[inline]
    fn node(&self, x: u32) -> &Node {
        &self.nodes[x as usize]
    }

    fn id(x: u32) -> Option<BlockId> {
        (x != NIL).then_some(BlockId(x))
    }

    fn next_priority(&mut self) -> u32 {
        let mut s = self.seed;
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        self.seed = s;
        s
    }

    /// Recompute `max` of `x` from its children; returns the new value.
    fn pull(&mut self, x: u32) -> Bytes {
        let node = self.node(x);
        let mut max = node.size;
        if node.left != NIL {
            max = max.max(self.node(node.left).max);
        }
        if node.right != NIL {
            max = max.max(self.node(node.right).max);
        }
        self.nodes[x as usize].max = max;
        max
    }

    /// Recompute `max` from `x` up to the root, stopping as soon as a value does not change
    /// (then nothing above it changes either).
    fn refresh_upward(&mut self, mut x: u32) {
        while x != NIL {
            let old = self.node(x).max;
            if self.pull(x) == old {
                return;
            }
            x = self.node(x).parent;
        }
    }

    /// Make `parent`'s link to `old` point to `new` (the root link if `parent` is NIL).
    fn replace_child(&mut self, parent: u32, old: u32, new: u32) {
        if parent == NIL {
            self.root = new;
        } else if self.node(parent).left == old {
            self.nodes[parent as usize].left = new;
        } else {
            self.nodes[parent as usize].right = new;
        }
    }

    /// Rotate `x` above its parent, keeping address order and every `max` right.
    fn rotate_up(&mut self, x: u32) {
        let p = self.node(x).parent;
        let grandparent = self.node(p).parent;
        if self.node(p).left == x {
            let moved = self.node(x).right;
            self.nodes[p as usize].left = moved;
            if moved != NIL {
                self.nodes[moved as usize].parent = p;
            }
            self.nodes[x as usize].right = p;
        } else {
            let moved = self.node(x).left;
            self.nodes[p as usize].right = moved;
            if moved != NIL {
                self.nodes[moved as usize].parent = p;
            }
            self.nodes[x as usize].left = p;
        }
        self.nodes[p as usize].parent = x;
        self.nodes[x as usize].parent = grandparent;
        self.replace_child(grandparent, p, x);
        self.pull(p);
        self.pull(x);
    }

    /// Panic unless every structural invariant holds. O(n); for tests.
    #[cfg(test)]
    pub fn check(&self) {
        let mut count = 0;
        let mut stack = Vec::new();
        if self.root != NIL {
            assert_eq!(self.node(self.root).parent, NIL, "root has a parent");
            stack.push(self.root);
        }
        while let Some(x) = stack.pop() {
            count += 1;
            let node = self.node(x);
            let mut max = node.size;
            for child in [node.left, node.right] {
                if child != NIL {
                    let c = self.node(child);
                    assert_eq!(c.parent, x, "parent link of {child} is wrong");
                    assert!(c.priority <= node.priority, "heap order broken at {x}");
                    max = max.max(c.max);
                    stack.push(child);
                }
            }
            assert_eq!(node.max, max, "max of {x} is stale");
        }
        assert_eq!(count, self.len, "len is wrong");
        let addrs: Vec<Addr> = self.blocks().map(|(addr, _)| addr).collect();
        assert_eq!(addrs.len(), self.len);
        assert!(addrs.windows(2).all(|w| w[0] < w[1]), "address order broken");
    }

    /// The number of nodes on the longest root-to-leaf path. O(n); for tests.
    #[cfg(test)]
    fn height(&self) -> usize {
        let mut best = 0;
        let mut stack = vec![(self.root, 1)];
        while let Some((x, depth)) = stack.pop() {
            if x == NIL {
                continue;
            }
            best = best.max(depth);
            stack.push((self.node(x).left, depth + 1));
            stack.push((self.node(x).right, depth + 1));
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Blocks of size `i % 7 + 1` (times 16) at addresses `100 * i`, for `i` in `0..n`.
    fn sample(n: u64) -> FreeTree {
        let mut tree = FreeTree::new();
        for i in 0..n {
            tree.insert(100 * i, 16 * (i % 7 + 1));
        }
        tree.check();
        tree
    }

    #[test]
    fn queries_agree_with_a_scan_of_the_blocks() {
        let tree = sample(200);
        let blocks: Vec<(Addr, Bytes)> = tree.blocks().collect();
        for need in [1, 16, 48, 112, 113] {
            let scan = blocks.iter().find(|b| b.1 >= need).copied();
            assert_eq!(tree.first_fit(need).map(|id| tree.get(id)), scan);
            for after in [0, 1, 99, 100, 101, 5_000, 19_950, 30_000] {
                let scan = blocks.iter().find(|b| b.0 + b.1 > after && b.1 >= need).copied();
                let found = tree.first_fit_ending_above(after, need).map(|id| tree.get(id));
                assert_eq!(found, scan, "need {need} after {after}");
            }
        }
        let (below, above) = tree.around(250);
        assert_eq!(below.map(|id| tree.get(id)), Some((200, 48)));
        assert_eq!(above.map(|id| tree.get(id)), Some((300, 64)));
        assert_eq!(tree.around(0).0, None);
        assert_eq!(tree.starting_at(300).map(|id| tree.get(id)), Some((300, 64)));
        assert_eq!(tree.starting_at(301), None);
        assert_eq!(tree.last().map(|id| tree.get(id)), Some((19_900, 16 * (199 % 7 + 1))));
        assert_eq!(tree.largest(), 112);
    }

    #[test]
    fn removing_and_resizing_keep_the_tree_consistent() {
        let mut tree = sample(300);
        for i in (0..300).step_by(3) {
            let id = tree.starting_at(100 * i).unwrap();
            tree.remove(id);
            tree.check();
        }
        for i in (1..300).step_by(3) {
            let id = tree.starting_at(100 * i).unwrap();
            tree.set(id, 100 * i + 16, 1000 + i);
            tree.check();
        }
        assert_eq!(tree.len(), 200);
        assert_eq!(tree.largest(), 1000 + 298);
        while let Some(id) = tree.last() {
            tree.remove(id);
        }
        tree.check();
        assert!(tree.is_empty());
        assert_eq!(tree.largest(), 0);
    }

    #[test]
    fn the_tree_stays_shallow_when_blocks_arrive_in_address_order() {
        let tree = sample(20_000);
        // A balanced tree has height about log2(20 000) = 15; a treap is within a small factor.
        assert!(tree.height() < 60, "height {}", tree.height());
    }
}
