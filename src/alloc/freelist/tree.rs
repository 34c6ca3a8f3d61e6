//! The mechanism behind the free-list family: an index of free blocks by address that answers
//! every question the policies ask in O(log n) in free blocks, touching few cache lines.
//!
//! [`FreeTree`] is a B+-tree keyed by block address. Leaves hold up to [`LEAF_CAP`] blocks as two
//! parallel arrays (addresses, sizes); inner nodes hold up to [`INNER_CAP`] children, and for
//! each child a separator address and the largest block size in that child's subtree. Nodes live
//! in two `Vec` arenas linked by `u32` indices, and removed nodes' slots are reused, so after
//! warm-up no operation allocates. With 16-way nodes a tree of 50 000 blocks is 4 or 5 levels
//! deep, and a search reads one or two cache lines per level (the treap this replaced was about
//! 40 levels deep, with a likely cache miss at each). 16 turned out faster than 32 (measured).
//!
//! Searches within a node look at all 16 slots with no branch on the data (`lanes.rs`): unused
//! slots hold sentinels (address and key [`SENTINEL`], `i64::MAX`, above every address; size
//! and max 0), so finding a key's slot is a count of the lanes below it, a node's max is a max
//! over all lanes, and the first slot that fits is a mask and `trailing_zeros` (no window is
//! needed in a descent: a sentinel fits no request). On a CPU with AVX2 that is four 4-lane
//! signed compares per node (every value is below 2^63, so no lane needs its sign flipped);
//! elsewhere a scalar version gives the same answers. Every operation the policies use has a
//! `*_in` form, generic over the node searches ([`Search`]) and inlined: `FreeList` compiles
//! each of its own operations (allocate, reallocate, free) a second time with AVX2 enabled, so
//! that one operation, its seeks, descents, inserts, removals, resizes and max refreshes, is one
//! function with the vector code inlined. The plain forms ask the tree's [`Lanes`] at every
//! node search (tests and rare paths).
//!
//! The maxes steer every size search: first fit goes down the leftmost child whose max is
//! large enough, and next fit climbs from the rover's leaf to the first subtree to the right
//! that is large enough, then goes down the same way. Separators may lie anywhere between the
//! blocks they separate (a removed block's address can stay a separator), so a block moving
//! past one at either end of its leaf moves the separator along ([`FreeTree::set`]).
//!
//! A search returns a [`Cursor`]: the path from the root to one slot of a leaf. Reading the
//! block under a cursor is O(1), and resizing, removing or inserting at a cursor reuses the path
//! instead of searching again. Any change to the tree invalidates every cursor, except that
//! [`FreeTree::set`] leaves the tree's shape, and so other cursors, intact.
//!
//! Nodes other than the root stay at least a quarter full: an underfull node borrows from a
//! neighbour, or merges with it if both fit in three quarters of a node, so a node just merged
//! does not split on the next insert. The tree is therefore about log4(n) levels deep at most.
//!
//! Maxes are recomputed only where they can change: shrinking or removing a block that is
//! below its leaf's recorded max changes no max at all.
//!
//! Costs (n = free blocks, B = the node capacities, 16): every search, insert, remove and
//! resize is O(B log n) (in practice a few levels of one or two cache lines each);
//! [`FreeTree::largest`] and [`FreeTree::get`] are O(1); a step to the next or previous block is
//! O(log n), and O(1) amortized over a walk.

#[cfg(target_arch = "x86_64")]
use super::lanes::Avx2;
use super::lanes::{Lanes, Search, LANES, SENTINEL};
use crate::alloc::model::{Addr, Bytes};

/// The most blocks a leaf holds.
pub const LEAF_CAP: usize = LANES;
/// The most children an inner node has.
pub const INNER_CAP: usize = LANES;
/// The fewest blocks in a leaf other than the root.
const LEAF_MIN: usize = LEAF_CAP / 4;
/// The fewest children of an inner node other than the root (which has at least 2).
const INNER_MIN: usize = INNER_CAP / 4;
/// The deepest path a cursor can hold. The root has at least 2 children and every other inner
/// node at least `INNER_MIN` (4), so a tree of height `h` has at least `2 * 4^(h - 1)` leaves:
/// height 16 (17 nodes on a path) already needs 2^31, and the arenas' `u32` indices name at most
/// 2^32, so height 17 cannot be reached.
const MAX_DEPTH: usize = 17;

// Slots are `u8`s, and a quarter of a node must leave room to borrow and merge.
const _: () = assert!(LEAF_CAP >= 8 && INNER_CAP >= 8 && LEAF_CAP <= 255 && INNER_CAP <= 255);

/// Up to `LEAF_CAP` blocks, sorted by address.
///
/// Slots from `len` on hold sentinels, [`SENTINEL`] and size 0, so that the searches of
/// [`Lanes`] can look at every slot: no block starts at or above `SENTINEL` and none fits in 0.
#[derive(Clone, Debug)]
struct Leaf {
    len: usize,
    addrs: [Addr; LEAF_CAP],
    sizes: [Bytes; LEAF_CAP],
}

/// Up to `INNER_CAP` children of one level, in address order.
///
/// Slots from `len` on hold sentinels, as in [`Leaf`]: key [`SENTINEL`] and max 0.
#[derive(Clone, Debug)]
struct Inner {
    len: usize,
    /// `keys[i]` separates child `i - 1` from child `i`: every block in child `i - 1` starts
    /// below it and every block in child `i` at or above it. `keys[0]` means nothing.
    keys: [Addr; INNER_CAP],
    /// `maxes[i]` is the largest block size in child `i`'s subtree, exactly.
    maxes: [Bytes; INNER_CAP],
    children: [u32; INNER_CAP],
}

impl Leaf {
    const EMPTY: Leaf = Leaf { len: 0, addrs: [SENTINEL; LEAF_CAP], sizes: [0; LEAF_CAP] };

    #[inline(always)]
    fn max<S: Search>(&self, search: S) -> Bytes {
        search.max(&self.sizes)
    }

    /// Put sentinels in the slots from `len` on.
    fn seal(&mut self) {
        self.addrs[self.len..].fill(SENTINEL);
        self.sizes[self.len..].fill(0);
    }

    #[inline(always)]
    fn insert(&mut self, slot: usize, addr: Addr, size: Bytes) {
        debug_assert!(self.len < LEAF_CAP && slot <= self.len);
        self.addrs.copy_within(slot..self.len, slot + 1);
        self.sizes.copy_within(slot..self.len, slot + 1);
        self.addrs[slot] = addr;
        self.sizes[slot] = size;
        self.len += 1;
    }

    #[inline(always)]
    fn remove(&mut self, slot: usize) {
        self.addrs.copy_within(slot + 1..self.len, slot);
        self.sizes.copy_within(slot + 1..self.len, slot);
        self.len -= 1;
        self.addrs[self.len] = SENTINEL;
        self.sizes[self.len] = 0;
    }

    /// Move this leaf's blocks from `from` on to the end of `other`.
    fn move_tail(&mut self, from: usize, other: &mut Leaf) {
        let n = self.len - from;
        other.addrs[other.len..other.len + n].copy_from_slice(&self.addrs[from..self.len]);
        other.sizes[other.len..other.len + n].copy_from_slice(&self.sizes[from..self.len]);
        other.len += n;
        self.len = from;
        self.seal();
    }

    /// Move this leaf's first `n` blocks to the end of `other`.
    fn move_head(&mut self, n: usize, other: &mut Leaf) {
        other.addrs[other.len..other.len + n].copy_from_slice(&self.addrs[..n]);
        other.sizes[other.len..other.len + n].copy_from_slice(&self.sizes[..n]);
        other.len += n;
        self.remove_head(n);
    }

    fn remove_head(&mut self, n: usize) {
        self.addrs.copy_within(n..self.len, 0);
        self.sizes.copy_within(n..self.len, 0);
        self.len -= n;
        self.seal();
    }

    /// Make room for `n` blocks at the front.
    fn open_head(&mut self, n: usize) {
        self.addrs.copy_within(0..self.len, n);
        self.sizes.copy_within(0..self.len, n);
        self.len += n;
    }
}

impl Inner {
    const EMPTY: Inner = Inner {
        len: 0,
        keys: [SENTINEL; INNER_CAP],
        maxes: [0; INNER_CAP],
        children: [0; INNER_CAP],
    };

    #[inline(always)]
    fn max<S: Search>(&self, search: S) -> Bytes {
        search.max(&self.maxes)
    }

    /// Put sentinels in the slots from `len` on.
    fn seal(&mut self) {
        self.keys[self.len..].fill(SENTINEL);
        self.maxes[self.len..].fill(0);
    }

    fn insert(&mut self, slot: usize, key: Addr, max: Bytes, child: u32) {
        debug_assert!(self.len < INNER_CAP && slot <= self.len);
        self.keys.copy_within(slot..self.len, slot + 1);
        self.maxes.copy_within(slot..self.len, slot + 1);
        self.children.copy_within(slot..self.len, slot + 1);
        self.keys[slot] = key;
        self.maxes[slot] = max;
        self.children[slot] = child;
        self.len += 1;
    }

    fn remove(&mut self, slot: usize) {
        self.keys.copy_within(slot + 1..self.len, slot);
        self.maxes.copy_within(slot + 1..self.len, slot);
        self.children.copy_within(slot + 1..self.len, slot);
        self.len -= 1;
        self.keys[self.len] = SENTINEL;
        self.maxes[self.len] = 0;
    }

    fn move_tail(&mut self, from: usize, other: &mut Inner) {
        let (n, at) = (self.len - from, other.len);
        other.keys[at..at + n].copy_from_slice(&self.keys[from..self.len]);
        other.maxes[at..at + n].copy_from_slice(&self.maxes[from..self.len]);
        other.children[at..at + n].copy_from_slice(&self.children[from..self.len]);
        other.len += n;
        self.len = from;
        self.seal();
    }

    fn move_head(&mut self, n: usize, other: &mut Inner) {
        let at = other.len;
        other.keys[at..at + n].copy_from_slice(&self.keys[..n]);
        other.maxes[at..at + n].copy_from_slice(&self.maxes[..n]);
        other.children[at..at + n].copy_from_slice(&self.children[..n]);
        other.len += n;
        self.keys.copy_within(n..self.len, 0);
        self.maxes.copy_within(n..self.len, 0);
        self.children.copy_within(n..self.len, 0);
        self.len -= n;
        self.seal();
    }

    fn open_head(&mut self, n: usize) {
        self.keys.copy_within(0..self.len, n);
        self.maxes.copy_within(0..self.len, n);
        self.children.copy_within(0..self.len, n);
        self.len += n;
    }
}

/// A free block as `(addr, size)`.
pub type Block = (Addr, Bytes);

/// A position in a [`FreeTree`]: the path from the root down to a slot of a leaf. The slot
/// holds a block, or (from [`FreeTree::seek`]) it may be the gap after a leaf's last block.
#[derive(Clone, Copy, Debug)]
pub struct Cursor {
    /// `nodes[l]` is the node at depth `l` (0 is the root; the tree's height is the leaf).
    nodes: [u32; MAX_DEPTH],
    /// `slots[l]` is the child (or, at the leaf, the block) taken at depth `l`.
    slots: [u8; MAX_DEPTH],
}

impl Cursor {
    pub const ROOT: Cursor = Cursor { nodes: [0; MAX_DEPTH], slots: [0; MAX_DEPTH] };
}

/// Free blocks ordered by address.
///
/// Invariants: every leaf is at depth `height`; separators bound their children as documented
/// on `Inner::keys`, so blocks are in address order leaf by leaf (the tree does not check that
/// blocks are disjoint; the caller keeps them so); every `maxes` entry and `largest` are exact;
/// nodes other than the root hold between a quarter of their capacity and all of it, and an
/// inner root has at least 2 children.
#[derive(Clone, Debug)]
pub struct FreeTree {
    /// The leaf arena. Slots listed in `vacant_leaves` are unused.
    leaves: Vec<Leaf>,
    inners: Vec<Inner>,
    vacant_leaves: Vec<u32>,
    vacant_inners: Vec<u32>,
    /// A leaf (possibly empty) if `height == 0`, else an inner node.
    root: u32,
    /// The depth of the leaves.
    height: usize,
    len: usize,
    /// The largest block size, 0 if there are none.
    largest: Bytes,
    /// How nodes are searched (AVX2 or scalar, same answers).
    lanes: Lanes,
}

impl Default for FreeTree {
    fn default() -> FreeTree {
        FreeTree::new()
    }
}

impl FreeTree {
    pub fn new() -> FreeTree {
        FreeTree {
            leaves: vec![Leaf::EMPTY],
            inners: Vec::new(),
            vacant_leaves: Vec::new(),
            vacant_inners: Vec::new(),
            root: 0,
            height: 0,
            len: 0,
            largest: 0,
            lanes: Lanes::detect(),
        }
    }

    /// A tree that searches its nodes with `lanes` (for tests of both implementations).
    #[cfg(test)]
    pub fn with_lanes(lanes: Lanes) -> FreeTree {
        FreeTree { lanes, ..FreeTree::new() }
    }

    /// The AVX2 searches, if this tree uses them: an operation compiled with AVX2 enabled (see
    /// `FreeList`) has them inlined.
    #[cfg(target_arch = "x86_64")]
    #[inline]
    pub fn avx2(&self) -> Option<Avx2> {
        self.lanes.avx2()
    }

    /// How this tree searches its nodes, for tests that call a `*_in` operation directly.
    #[cfg(test)]
    pub fn lanes(&self) -> Lanes {
        self.lanes
    }

    /// Number of free blocks. O(1).
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Levels below the root: a search visits `height() + 1` nodes. O(1).
    #[inline(always)]
    pub fn height(&self) -> usize {
        self.height
    }

    /// `height`, which is below `MAX_DEPTH` (`add_sibling` makes sure): the test lets the
    /// compiler drop the bounds checks of every cursor access indexed by depth.
    #[inline(always)]
    fn leaf_depth(&self) -> usize {
        let h = self.height;
        if h >= MAX_DEPTH {
            unreachable!("free tree deeper than {MAX_DEPTH} levels");
        }
        h
    }

    /// The size of the largest block, 0 if there is none. O(1).
    #[inline(always)]
    pub fn largest(&self) -> Bytes {
        self.largest
    }

    /// `(addr, size)` of the block under a cursor (which must be on a block). O(1).
    #[inline(always)]
    pub fn get(&self, at: &Cursor) -> (Addr, Bytes) {
        let leaf = &self.leaves[at.nodes[self.leaf_depth()] as usize];
        let slot = at.slots[self.leaf_depth()] as usize;
        (leaf.addrs[slot], leaf.sizes[slot])
    }

    /// The lowest-addressed block with `size >= need`. O(B log n).
    pub fn first_fit(&self, need: Bytes) -> Option<Cursor> {
        let mut at = Cursor::ROOT;
        self.first_fit_in(self.lanes, need, &mut at).then_some(at)
    }

    /// [`FreeTree::first_fit`] with the node searches of `search`: writes the block's path into
    /// `at` and returns true, or returns false (and leaves `at` alone) when no block fits.
    ///
    /// The path is written in place rather than returned: a returned cursor is copied with wide
    /// loads just after the search's narrow stores into it, and those loads wait for the stores
    /// (a failed store-to-load forwarding each), which `perf annotate` showed as about a sixth
    /// of first fit's allocations.
    #[inline(always)]
    pub fn first_fit_in<S: Search>(&self, search: S, need: Bytes, at: &mut Cursor) -> bool {
        if self.largest < need || self.len == 0 {
            return false;
        }
        // Blocks are not empty: every block fits 0 as it fits 1, and sentinel sizes fit neither.
        let need = need.max(1);
        self.descend_in(search, at, 0, self.root, need);
        true
    }

    /// The lowest-addressed block that ends above `after` and has `size >= need`. O(B log n).
    ///
    /// Blocks are disjoint, so their ends rise with their addresses: the blocks ending above
    /// `after` are a suffix of the address order, starting with the block that contains `after`
    /// or else the next one.
    pub fn first_fit_ending_above(&self, after: Addr, need: Bytes) -> Option<Cursor> {
        let mut at = Cursor::ROOT;
        self.first_fit_ending_above_in(self.lanes, after, need, &mut at).then_some(at)
    }

    /// [`FreeTree::first_fit_ending_above`] with the node searches of `search`, writing the
    /// block's path into `at` (true) as [`FreeTree::first_fit_in`] does; when no block fits
    /// (false), `at` is left anywhere.
    #[inline(always)]
    pub fn first_fit_ending_above_in<S: Search>(
        &self,
        search: S,
        after: Addr,
        need: Bytes,
        at: &mut Cursor,
    ) -> bool {
        if self.largest < need || self.len == 0 {
            return false;
        }
        let need = need.max(1);
        *at = self.seek_in(search, after);
        // The block before the gap starts below `after`: it comes first if it contains `after`.
        if self.around(at).0.is_some_and(|(addr, size)| addr + size > after) {
            let moved = self.move_back(at);
            debug_assert!(moved);
        }
        self.fit_from_in(search, at, need)
    }

    /// The gap where a block starting at `addr` goes: before the first block starting at or
    /// above `addr`. Its slot may be one past a leaf's last block. O(B log n).
    pub fn seek(&self, addr: Addr) -> Cursor {
        self.seek_in(self.lanes, addr)
    }

    /// [`FreeTree::seek`] with the node searches of `search`.
    #[inline(always)]
    pub fn seek_in<S: Search>(&self, search: S, addr: Addr) -> Cursor {
        let mut at = Cursor::ROOT;
        let mut x = self.root;
        for depth in 0..self.leaf_depth() {
            let node = &self.inners[x as usize];
            // The child whose key range holds `addr`: the number of separators at or below it.
            let i = search.count_at_most_past_first(&node.keys, addr);
            at.nodes[depth] = x;
            at.slots[depth] = i as u8;
            x = node.children[i];
        }
        // The first slot whose block starts at or above `addr` (`len` if none).
        let slot = search.count_below(&self.leaves[x as usize].addrs, addr);
        at.nodes[self.leaf_depth()] = x;
        at.slots[self.leaf_depth()] = slot as u8;
        at
    }

    /// The block at `at`, or if `at` is a gap at the end of a leaf, the next block. O(log n).
    #[inline(always)]
    pub fn at_or_after(&self, mut at: Cursor) -> Option<Cursor> {
        self.move_to_block(&mut at).then_some(at)
    }

    /// The block before the block or gap `at`. O(log n).
    #[inline(always)]
    pub fn before(&self, mut at: Cursor) -> Option<Cursor> {
        self.move_back(&mut at).then_some(at)
    }

    /// Move `at` as [`FreeTree::at_or_after`] does, in place; `false` (and `at` unchanged) if
    /// there is no such block. O(1) inside a leaf, else O(log n).
    #[inline(always)]
    pub fn move_to_block(&self, at: &mut Cursor) -> bool {
        let h = self.leaf_depth();
        if (at.slots[h] as usize) < self.leaves[at.nodes[h] as usize].len {
            return true;
        }
        // Climb to the lowest ancestor with a child to the right of the path, go one right,
        // then down the left edge.
        let mut depth = h;
        loop {
            if depth == 0 {
                return false;
            }
            depth -= 1;
            let slot = at.slots[depth] as usize;
            if slot + 1 < self.inners[at.nodes[depth] as usize].len {
                at.slots[depth] = (slot + 1) as u8;
                break;
            }
        }
        for d in depth + 1..=h {
            at.nodes[d] = self.inners[at.nodes[d - 1] as usize].children[at.slots[d - 1] as usize];
            at.slots[d] = 0;
        }
        true
    }

    /// Move `at` as [`FreeTree::before`] does, in place; `false` (and `at` unchanged) if there
    /// is no such block. O(1) inside a leaf, else O(log n).
    #[inline(always)]
    pub fn move_back(&self, at: &mut Cursor) -> bool {
        let h = self.leaf_depth();
        if at.slots[h] > 0 {
            at.slots[h] -= 1;
            return true;
        }
        let mut depth = h;
        loop {
            if depth == 0 {
                return false;
            }
            depth -= 1;
            if at.slots[depth] > 0 {
                at.slots[depth] -= 1;
                break;
            }
        }
        for d in depth + 1..=h {
            let child = self.inners[at.nodes[d - 1] as usize].children[at.slots[d - 1] as usize];
            at.nodes[d] = child;
            at.slots[d] = (self.node_len(child, d) - 1) as u8;
        }
        true
    }

    /// `(addr, size)` of the blocks either side of the gap `gap` (from [`FreeTree::seek`]): the
    /// one before it and the one at or after it. O(1) when both are in the gap's leaf, else
    /// O(log n).
    #[inline(always)]
    pub fn around(&self, gap: &Cursor) -> (Option<Block>, Option<Block>) {
        let h = self.leaf_depth();
        let leaf = &self.leaves[gap.nodes[h] as usize];
        let slot = gap.slots[h] as usize;
        let below = if slot > 0 {
            Some((leaf.addrs[slot - 1], leaf.sizes[slot - 1]))
        } else {
            self.before(*gap).map(|at| self.get(&at))
        };
        let above = if slot < leaf.len {
            Some((leaf.addrs[slot], leaf.sizes[slot]))
        } else {
            self.at_or_after(*gap).map(|at| self.get(&at))
        };
        (below, above)
    }

    /// The block after the block `at`. O(log n).
    #[inline(always)]
    pub fn after(&self, mut at: Cursor) -> Option<Cursor> {
        self.move_forward(&mut at).then_some(at)
    }

    /// Move `at` as [`FreeTree::after`] does, in place; `false` (and `at` the gap after the last
    /// block) if there is no such block. O(1) inside a leaf, else O(log n).
    #[inline(always)]
    pub fn move_forward(&self, at: &mut Cursor) -> bool {
        at.slots[self.leaf_depth()] += 1;
        self.move_to_block(at)
    }

    /// The block that starts exactly at `addr`, if any. O(B log n).
    pub fn starting_at(&self, addr: Addr) -> Option<Cursor> {
        let mut at = Cursor::ROOT;
        self.starting_at_in(self.lanes, addr, &mut at).then_some(at)
    }

    /// [`FreeTree::starting_at`] with the node searches of `search`: true with the block's path
    /// in `at` (written in place, as [`FreeTree::first_fit_in`] explains), or false (and `at`
    /// the gap where such a block would go).
    #[inline(always)]
    pub fn starting_at_in<S: Search>(&self, search: S, addr: Addr, at: &mut Cursor) -> bool {
        // A block at `addr` is never past the end of the leaf `seek` reaches: the separator
        // after that leaf is above every block in it.
        *at = self.seek_in(search, addr);
        let leaf = &self.leaves[at.nodes[self.leaf_depth()] as usize];
        let slot = at.slots[self.leaf_depth()] as usize;
        slot < leaf.len && leaf.addrs[slot] == addr
    }

    /// The highest-addressed block. O(log n).
    #[inline(always)]
    pub fn last(&self) -> Option<Cursor> {
        if self.len == 0 {
            return None;
        }
        let mut at = Cursor::ROOT;
        let mut x = self.root;
        for depth in 0..self.leaf_depth() {
            let node = &self.inners[x as usize];
            at.nodes[depth] = x;
            at.slots[depth] = (node.len - 1) as u8;
            x = node.children[node.len - 1];
        }
        at.nodes[self.leaf_depth()] = x;
        at.slots[self.leaf_depth()] = (self.leaves[x as usize].len - 1) as u8;
        Some(at)
    }

    /// Add a block. The caller keeps blocks disjoint. O(B log n).
    pub fn insert(&mut self, addr: Addr, size: Bytes) {
        self.insert_at(&self.seek(addr), addr, size);
    }

    /// Add a block at `gap` (see [`FreeTree::insert_at_in`]).
    pub fn insert_at(&mut self, gap: &Cursor, addr: Addr, size: Bytes) {
        self.insert_at_in(self.lanes, gap, addr, size);
    }

    /// Add a block at `gap`, which must be `self.seek(addr)` with no change to the tree since.
    /// The caller keeps blocks disjoint. O(B log n). (`search` is not needed unless a leaf
    /// splits, which is rare and uses the tree's own.)
    #[inline(always)]
    pub fn insert_at_in<S: Search>(&mut self, _: S, gap: &Cursor, addr: Addr, size: Bytes) {
        let h = self.leaf_depth();
        self.len += 1;
        // The new block raises the max of every subtree on its path.
        self.raise_maxes(gap, size);
        let (x, slot) = (gap.nodes[h], gap.slots[h] as usize);
        if self.leaves[x as usize].len < LEAF_CAP {
            self.leaves[x as usize].insert(slot, addr, size);
            return;
        }
        self.split_and_insert(gap, addr, size);
    }

    /// [`FreeTree::insert_at`] into a full leaf: split it, then insert.
    #[cold]
    #[inline(never)]
    fn split_and_insert(&mut self, gap: &Cursor, addr: Addr, size: Bytes) {
        let h = self.leaf_depth();
        let (x, slot) = (gap.nodes[h], gap.slots[h] as usize);
        let right = self.new_leaf();
        let half = LEAF_CAP / 2;
        let (left_leaf, right_leaf) = pair_mut(&mut self.leaves, x, right);
        left_leaf.move_tail(half, right_leaf);
        // Never at the right leaf's front, so its first block stays the separator.
        if slot <= half {
            left_leaf.insert(slot, addr, size);
        } else {
            right_leaf.insert(slot - half, addr, size);
        }
        let separator = right_leaf.addrs[0];
        self.add_sibling(gap, h, separator, right);
    }

    /// Change the block at `at` in place. The caller guarantees the block keeps its place in
    /// address order: it starts above the previous block's start and below the next one's.
    /// Other cursors stay valid. O(B log n).
    pub fn set(&mut self, at: &Cursor, addr: Addr, size: Bytes) {
        self.set_in(self.lanes, at, addr, size);
    }

    /// [`FreeTree::set`] with the node searches of `search`.
    #[inline(always)]
    pub fn set_in<S: Search>(&mut self, search: S, at: &Cursor, addr: Addr, size: Bytes) {
        let h = self.leaf_depth();
        let (x, slot) = (at.nodes[h] as usize, at.slots[h] as usize);
        let leaf = &mut self.leaves[x];
        let (old_addr, old_size) = (leaf.addrs[slot], leaf.sizes[slot]);
        let last = slot + 1 == leaf.len;
        leaf.addrs[slot] = addr;
        leaf.sizes[slot] = size;
        // Separators lie anywhere between the blocks they separate, so a block at either end
        // of its leaf may cross the one on that side: move it past the block again.
        // (The rarely true slot tests first: the address tests alone are data-dependent.)
        if slot == 0 && addr < old_addr {
            // Blocks before this one start below `addr`: `addr` still separates them.
            if let Some(depth) = (0..h).rev().find(|&d| at.slots[d] > 0) {
                let key = &mut self.inners[at.nodes[depth] as usize].keys[at.slots[depth] as usize];
                *key = (*key).min(addr);
            }
        } else if last && addr > old_addr {
            // Blocks after this one start above `addr`: `addr + 1` still separates them.
            let right = (0..h)
                .rev()
                .find(|&d| at.slots[d] as usize + 1 < self.inners[at.nodes[d] as usize].len);
            if let Some(depth) = right {
                let node = &mut self.inners[at.nodes[depth] as usize];
                let key = &mut node.keys[at.slots[depth] as usize + 1];
                *key = (*key).max(addr + 1);
            }
        }
        if size > old_size {
            self.raise_maxes(at, size);
        } else if size < old_size && old_size == self.recorded_max(at) {
            // Only the leaf's largest block shrinking can change a max.
            self.refresh_maxes(search, at, h);
        }
    }

    /// The largest block size in the leaf of `at` as its parent records it (for the root leaf,
    /// `largest`). O(1).
    #[inline(always)]
    fn recorded_max(&self, at: &Cursor) -> Bytes {
        match self.leaf_depth() {
            0 => self.largest,
            h => self.inners[at.nodes[h - 1] as usize].maxes[at.slots[h - 1] as usize],
        }
    }

    /// Remove the block at `at`. O(B log n).
    pub fn remove(&mut self, at: &Cursor) {
        self.remove_in(self.lanes, at);
    }

    /// [`FreeTree::remove`] with the node searches of `search`.
    #[inline(always)]
    pub fn remove_in<S: Search>(&mut self, search: S, at: &Cursor) {
        let h = self.leaf_depth();
        let leaf = &mut self.leaves[at.nodes[h] as usize];
        let size = leaf.sizes[at.slots[h] as usize];
        leaf.remove(at.slots[h] as usize);
        self.len -= 1;
        let still_full_enough = h == 0 || leaf.len >= LEAF_MIN;
        // A block below its leaf's max leaves every max as it was.
        if still_full_enough && size < self.recorded_max(at) {
            return;
        }
        self.shrink_upward(search, at);
    }

    /// Every block as `(addr, size)`, in address order. O(n).
    pub fn blocks(&self) -> impl Iterator<Item = (Addr, Bytes)> + '_ {
        let mut next = self.at_or_after(self.seek(0));
        std::iter::from_fn(move || {
            let at = next?;
            next = self.after(at);
            Some(self.get(&at))
        })
    }

    /// From node `x` at `depth`, which holds a block with `size >= need` (and `need >= 1`), go
    /// down to the leftmost such block, writing the path into `at`.
    #[inline(always)]
    fn descend_in<S: Search>(
        &self,
        search: S,
        at: &mut Cursor,
        mut depth: usize,
        mut x: u32,
        need: Bytes,
    ) {
        while depth < self.leaf_depth() {
            let node = &self.inners[x as usize];
            let i = search.first_at_least_of_all(&node.maxes, need);
            let i = i.expect("a subtree's max is exact");
            at.nodes[depth] = x;
            at.slots[depth] = i as u8;
            x = node.children[i];
            depth += 1;
        }
        let leaf = &self.leaves[x as usize];
        let slot = search.first_at_least_of_all(&leaf.sizes, need);
        at.nodes[depth] = x;
        at.slots[depth] = slot.expect("a leaf's max is exact") as u8;
    }

    /// Move `at` to the first block at or after the block or gap `at` with `size >= need` (`need
    /// >= 1`): true, or false (and `at` left anywhere) if there is none.
    #[inline(always)]
    fn fit_from_in<S: Search>(&self, search: S, at: &mut Cursor, need: Bytes) -> bool {
        let h = self.leaf_depth();
        let leaf = &self.leaves[at.nodes[h] as usize];
        let from = at.slots[h] as usize;
        if let Some(slot) = search.first_at_least(&leaf.sizes, from, leaf.len, need) {
            at.slots[h] = slot as u8;
            return true;
        }
        // Climb until a subtree to the right of the path is large enough, then go down into it.
        for depth in (0..h).rev() {
            let node = &self.inners[at.nodes[depth] as usize];
            let from = at.slots[depth] as usize + 1;
            if let Some(i) = search.first_at_least(&node.maxes, from, node.len, need) {
                at.slots[depth] = i as u8;
                self.descend_in(search, at, depth + 1, node.children[i], need);
                return true;
            }
        }
        false
    }

    #[inline(always)]
    fn node_len(&self, x: u32, depth: usize) -> usize {
        if depth == self.height {
            self.leaves[x as usize].len
        } else {
            self.inners[x as usize].len
        }
    }

    #[inline(always)]
    fn node_max<S: Search>(&self, search: S, x: u32, depth: usize) -> Bytes {
        if depth == self.height {
            self.leaves[x as usize].max(search)
        } else {
            self.inners[x as usize].max(search)
        }
    }

    /// Make every max on the path of `at` at least `size`.
    #[inline(always)]
    fn raise_maxes(&mut self, at: &Cursor, size: Bytes) {
        self.largest = self.largest.max(size);
        for depth in (0..self.leaf_depth()).rev() {
            let max = &mut self.inners[at.nodes[depth] as usize].maxes[at.slots[depth] as usize];
            if *max >= size {
                return;
            }
            *max = size;
        }
    }

    /// Recompute the maxes on the path of `at` from the node at `depth` up, stopping where a
    /// value does not change (then nothing above it changes either).
    #[inline(always)]
    fn refresh_maxes<S: Search>(&mut self, search: S, at: &Cursor, depth: usize) {
        let mut max = self.node_max(search, at.nodes[depth], depth);
        for d in (0..depth).rev() {
            let node = &mut self.inners[at.nodes[d] as usize];
            let slot = at.slots[d] as usize;
            if node.maxes[slot] == max {
                return;
            }
            node.maxes[slot] = max;
            max = node.max(search);
        }
        self.largest = max;
    }

    /// The node on the path of `at` at `depth` has just been split, its upper half moved to the
    /// new node `right`, whose blocks all start at or above `separator`: link `right` into the
    /// parent, splitting ancestors as they fill up. Maxes above the split nodes are already
    /// right (a split does not change what a subtree holds).
    #[cold]
    #[inline(never)]
    fn add_sibling(&mut self, at: &Cursor, mut depth: usize, mut separator: Addr, mut right: u32) {
        loop {
            let left = at.nodes[depth];
            let lanes = self.lanes;
            let (left_max, right_max) =
                (self.node_max(lanes, left, depth), self.node_max(lanes, right, depth));
            if depth == 0 {
                let root = self.new_inner();
                let node = &mut self.inners[root as usize];
                node.len = 2;
                node.keys[1] = separator;
                node.maxes[..2].copy_from_slice(&[left_max, right_max]);
                node.children[..2].copy_from_slice(&[left, right]);
                self.root = root;
                self.height += 1;
                assert!(self.height < MAX_DEPTH, "free tree deeper than {MAX_DEPTH} levels");
                return;
            }
            let (parent, slot) = (at.nodes[depth - 1], at.slots[depth - 1] as usize);
            if self.inners[parent as usize].len < INNER_CAP {
                let node = &mut self.inners[parent as usize];
                node.maxes[slot] = left_max;
                node.insert(slot + 1, separator, right_max, right);
                return;
            }
            let uncle = self.new_inner();
            let half = INNER_CAP / 2;
            let (node, sibling) = pair_mut(&mut self.inners, parent, uncle);
            node.move_tail(half, sibling);
            // As with leaves: never at the new node's front, whose first key moves up.
            if slot < half {
                node.maxes[slot] = left_max;
                node.insert(slot + 1, separator, right_max, right);
            } else {
                sibling.maxes[slot - half] = left_max;
                sibling.insert(slot - half + 1, separator, right_max, right);
            }
            separator = sibling.keys[0];
            right = uncle;
            depth -= 1;
        }
    }

    /// After a block was removed from the leaf on the path of `at`: refill or merge nodes that
    /// fell below their minimum, and bring the maxes up to date.
    #[inline(always)]
    fn shrink_upward<S: Search>(&mut self, search: S, at: &Cursor) {
        let mut depth = self.leaf_depth();
        while depth > 0 {
            let x = at.nodes[depth];
            let (parent, slot) = (at.nodes[depth - 1], at.slots[depth - 1] as usize);
            let min = if depth == self.height { LEAF_MIN } else { INNER_MIN };
            if self.node_len(x, depth) < min {
                self.rebalance(parent, slot, depth);
            } else {
                let max = self.node_max(search, x, depth);
                let node = &mut self.inners[parent as usize];
                if node.maxes[slot] == max {
                    return;
                }
                node.maxes[slot] = max;
            }
            depth -= 1;
        }
        let root = self.root;
        if self.height > 0 && self.inners[root as usize].len == 1 {
            self.root = self.inners[root as usize].children[0];
            self.vacant_inners.push(root);
            self.height -= 1;
        }
        self.largest = self.node_max(search, self.root, 0);
    }

    /// Child `slot` of inner node `parent` (at `depth`) is below its minimum: merge it with a
    /// neighbour if both fit in three quarters of a node (so the next insert does not split
    /// it again), else even the two out.
    #[cold]
    #[inline(never)]
    fn rebalance(&mut self, parent: u32, slot: usize, depth: usize) {
        let node = &self.inners[parent as usize];
        let (a, b) = if slot + 1 < node.len { (slot, slot + 1) } else { (slot - 1, slot) };
        let (left, right) = (node.children[a], node.children[b]);
        let separator = node.keys[b];
        let merged: bool;
        let new_separator: Addr;
        if depth == self.height {
            let (l, r) = pair_mut(&mut self.leaves, left, right);
            let total = l.len + r.len;
            merged = total <= LEAF_CAP * 3 / 4;
            if merged {
                r.move_tail(0, l);
            } else if l.len < total / 2 {
                r.move_head(total / 2 - l.len, l);
            } else {
                let (keep, n) = (total / 2, l.len - total / 2);
                r.open_head(n);
                r.addrs[..n].copy_from_slice(&l.addrs[keep..l.len]);
                r.sizes[..n].copy_from_slice(&l.sizes[keep..l.len]);
                l.len = keep;
                l.seal();
            }
            new_separator = r.addrs[0];
        } else {
            let (l, r) = pair_mut(&mut self.inners, left, right);
            // The parent's separator becomes the key of `right`'s first child, so keys can
            // move between the two nodes with their children.
            r.keys[0] = separator;
            let total = l.len + r.len;
            merged = total <= INNER_CAP * 3 / 4;
            if merged {
                r.move_tail(0, l);
            } else if l.len < total / 2 {
                r.move_head(total / 2 - l.len, l);
            } else {
                let (keep, n) = (total / 2, l.len - total / 2);
                r.open_head(n);
                r.keys[..n].copy_from_slice(&l.keys[keep..l.len]);
                r.maxes[..n].copy_from_slice(&l.maxes[keep..l.len]);
                r.children[..n].copy_from_slice(&l.children[keep..l.len]);
                l.len = keep;
                l.seal();
            }
            new_separator = r.keys[0];
        }
        let lanes = self.lanes;
        let (left_max, right_max) =
            (self.node_max(lanes, left, depth), self.node_max(lanes, right, depth));
        let node = &mut self.inners[parent as usize];
        node.maxes[a] = left_max;
        if merged {
            node.remove(b);
            if depth == self.height {
                self.vacant_leaves.push(right);
            } else {
                self.vacant_inners.push(right);
            }
        } else {
            node.keys[b] = new_separator;
            node.maxes[b] = right_max;
        }
    }

    fn new_leaf(&mut self) -> u32 {
        if let Some(x) = self.vacant_leaves.pop() {
            let leaf = &mut self.leaves[x as usize];
            leaf.len = 0;
            leaf.seal();
            return x;
        }
        self.leaves.push(Leaf::EMPTY);
        index(self.leaves.len() - 1)
    }

    fn new_inner(&mut self) -> u32 {
        if let Some(x) = self.vacant_inners.pop() {
            let node = &mut self.inners[x as usize];
            node.len = 0;
            node.seal();
            return x;
        }
        self.inners.push(Inner::EMPTY);
        index(self.inners.len() - 1)
    }

    /// Panic unless every structural invariant holds. O(n); for tests.
    #[cfg(test)]
    pub fn check(&self) {
        let mut seen_leaves = vec![false; self.leaves.len()];
        let mut seen_inners = vec![false; self.inners.len()];
        for &x in &self.vacant_leaves {
            assert!(
                !std::mem::replace(&mut seen_leaves[x as usize], true),
                "leaf {x} vacant twice"
            );
        }
        for &x in &self.vacant_inners {
            assert!(
                !std::mem::replace(&mut seen_inners[x as usize], true),
                "inner {x} vacant twice"
            );
        }
        let (max, count) =
            self.check_node(self.root, 0, (None, None), &mut seen_leaves, &mut seen_inners);
        assert_eq!(max, self.largest, "largest is stale");
        assert_eq!(count, self.len, "len is wrong");
        assert!(seen_leaves.iter().all(|&s| s), "a leaf is neither in the tree nor vacant");
        assert!(seen_inners.iter().all(|&s| s), "an inner node is neither in the tree nor vacant");
        let addrs: Vec<Addr> = self.blocks().map(|(addr, _)| addr).collect();
        assert_eq!(addrs.len(), self.len);
        assert!(addrs.windows(2).all(|w| w[0] < w[1]), "address order broken");
    }

    /// Check the subtree of `x` at `depth`, whose blocks must start in `[lo, hi)`; returns its
    /// largest size and its number of blocks.
    #[cfg(test)]
    fn check_node(
        &self,
        x: u32,
        depth: usize,
        (lo, hi): (Option<Addr>, Option<Addr>),
        seen_leaves: &mut [bool],
        seen_inners: &mut [bool],
    ) -> (Bytes, usize) {
        let in_range = |a: Addr| lo.is_none_or(|lo| a >= lo) && hi.is_none_or(|hi| a < hi);
        let is_root = depth == 0;
        if depth == self.height {
            assert!(!std::mem::replace(&mut seen_leaves[x as usize], true), "leaf {x} reused");
            let leaf = &self.leaves[x as usize];
            assert!(leaf.len <= LEAF_CAP);
            assert!(is_root || leaf.len >= LEAF_MIN, "leaf {x} underfull: {}", leaf.len);
            let addrs = &leaf.addrs[..leaf.len];
            assert!(addrs.windows(2).all(|w| w[0] < w[1]), "leaf {x} out of order");
            assert!(leaf.addrs[leaf.len..].iter().all(|&a| a == SENTINEL), "leaf {x} unsealed");
            assert!(leaf.sizes[leaf.len..].iter().all(|&s| s == 0), "leaf {x} unsealed");
            assert!(addrs.iter().all(|&a| in_range(a)), "leaf {x} outside its separators");
            return (leaf.sizes[..leaf.len].iter().copied().max().unwrap_or(0), leaf.len);
        }
        assert!(!std::mem::replace(&mut seen_inners[x as usize], true), "inner {x} reused");
        let node = &self.inners[x as usize];
        assert!(node.len <= INNER_CAP);
        assert!(node.len >= if is_root { 2 } else { INNER_MIN }, "inner {x} underfull");
        let keys = &node.keys[1..node.len];
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "keys of {x} out of order");
        assert!(node.keys[node.len..].iter().all(|&k| k == SENTINEL), "inner {x} unsealed");
        assert!(node.maxes[node.len..].iter().all(|&m| m == 0), "inner {x} unsealed");
        assert!(keys.iter().all(|&k| in_range(k)), "keys of {x} outside its separators");
        let (mut max, mut count) = (0, 0);
        for i in 0..node.len {
            let child_lo = if i == 0 { lo } else { Some(node.keys[i]) };
            let child_hi = if i + 1 < node.len { Some(node.keys[i + 1]) } else { hi };
            let child = node.children[i];
            let (m, c) =
                self.check_node(child, depth + 1, (child_lo, child_hi), seen_leaves, seen_inners);
            assert_eq!(node.maxes[i], m, "max of child {i} of {x} is stale");
            max = max.max(m);
            count += c;
        }
        (max, count)
    }
}

fn index(i: usize) -> u32 {
    u32::try_from(i).expect("more than 2^32 nodes in a free tree")
}

/// Mutable references to two different elements.
fn pair_mut<T>(v: &mut [T], a: u32, b: u32) -> (&mut T, &mut T) {
    let (a, b) = (a as usize, b as usize);
    assert_ne!(a, b);
    if a < b {
        let (lo, hi) = v.split_at_mut(b);
        (&mut lo[a], &mut hi[0])
    } else {
        let (lo, hi) = v.split_at_mut(a);
        (&mut hi[0], &mut lo[b])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// Blocks of size `i % 7 + 1` (times 16) at addresses `100 * i`, for `i` in `0..n`.
    fn sample(n: u64) -> FreeTree {
        let mut tree = FreeTree::new();
        for i in 0..n {
            tree.insert(100 * i, 16 * (i % 7 + 1));
        }
        tree.check();
        tree
    }

    fn block(tree: &FreeTree, at: Option<Cursor>) -> Option<(Addr, Bytes)> {
        at.map(|at| tree.get(&at))
    }

    /// Every query of `tree` against a scan of `model`, for the given sizes and addresses.
    fn assert_queries_agree(tree: &FreeTree, model: &BTreeMap<Addr, Bytes>, probes: &[u64]) {
        let blocks: Vec<(Addr, Bytes)> = model.iter().map(|(&a, &s)| (a, s)).collect();
        assert_eq!(tree.blocks().collect::<Vec<_>>(), blocks);
        assert_eq!(tree.len(), blocks.len());
        assert_eq!(tree.largest(), blocks.iter().map(|b| b.1).max().unwrap_or(0));
        assert_eq!(block(tree, tree.last()), blocks.last().copied());
        for &p in probes {
            let scan = blocks.iter().find(|b| b.1 >= p).copied();
            assert_eq!(block(tree, tree.first_fit(p)), scan, "first fit {p}");
            for &after in probes {
                let scan = blocks.iter().find(|b| b.0 + b.1 > after && b.1 >= p).copied();
                let found = block(tree, tree.first_fit_ending_above(after, p));
                assert_eq!(found, scan, "need {p} after {after}");
            }
            let gap = tree.seek(p);
            let below = blocks.iter().rev().find(|b| b.0 < p).copied();
            let above = blocks.iter().find(|b| b.0 >= p).copied();
            assert_eq!(block(tree, tree.before(gap)), below, "below {p}");
            assert_eq!(block(tree, tree.at_or_after(gap)), above, "above {p}");
            let here = model.get(&p).map(|&s| (p, s));
            assert_eq!(block(tree, tree.starting_at(p)), here, "at {p}");
        }
    }

    #[test]
    fn queries_agree_with_a_scan_of_the_blocks() {
        let tree = sample(200);
        let model: BTreeMap<Addr, Bytes> = tree.blocks().collect();
        let probes = [0, 1, 16, 48, 99, 100, 101, 112, 113, 250, 5_000, 19_900, 19_950, 30_000];
        assert_queries_agree(&tree, &model, &probes);
        assert_eq!(tree.largest(), 112);
        assert!(FreeTree::new().first_fit(16).is_none());
    }

    #[test]
    fn removing_and_resizing_keep_the_tree_consistent() {
        let mut tree = sample(300);
        for i in (0..300).step_by(3) {
            let at = tree.starting_at(100 * i).unwrap();
            tree.remove(&at);
            tree.check();
        }
        for i in (1..300).step_by(3) {
            let at = tree.starting_at(100 * i).unwrap();
            tree.set(&at, 100 * i - 50, 1000 + i);
            tree.check();
        }
        assert_eq!(tree.len(), 200);
        assert_eq!(tree.largest(), 1000 + 298);
        while let Some(at) = tree.last() {
            tree.remove(&at);
            tree.check();
        }
        assert!(tree.is_empty());
        assert_eq!(tree.largest(), 0);
        assert_eq!(tree.height, 0);
    }

    #[test]
    fn a_leaf_splits_when_it_overflows_and_the_root_collapses_when_it_empties() {
        let mut tree = FreeTree::new();
        for i in 0..LEAF_CAP as u64 {
            tree.insert(32 * i, 16);
        }
        tree.check();
        assert_eq!(tree.height, 0, "a full root leaf has not split yet");
        tree.insert(32 * LEAF_CAP as u64, 16);
        tree.check();
        assert_eq!((tree.height, tree.inners[tree.root as usize].len), (1, 2));
        // Removing from the front makes the left leaf underflow, borrow, then merge.
        while tree.height > 0 {
            tree.remove(&tree.at_or_after(tree.seek(0)).unwrap());
            tree.check();
        }
        assert_eq!(tree.len(), LEAF_CAP * 3 / 4);
        assert_eq!(tree.vacant_leaves.len(), 1, "the merged leaf's slot is kept for reuse");
    }

    #[test]
    fn inner_nodes_split_and_merge_at_their_capacity() {
        // Enough blocks, inserted from the middle outwards, for three levels of inner nodes.
        let n = (LEAF_CAP * INNER_CAP * INNER_CAP) as u64;
        let mut tree = FreeTree::new();
        let mut model = BTreeMap::new();
        for i in 0..n {
            let addr = 32 * if i % 2 == 0 { n + i } else { n - i };
            tree.insert(addr, 16 + 16 * (i % 5));
            model.insert(addr, 16 + 16 * (i % 5));
            if i % 97 == 0 {
                tree.check();
            }
        }
        tree.check();
        assert!(tree.height >= 3, "height {}", tree.height);
        assert_queries_agree(&tree, &model, &[0, 16, 48, 80, 81, 32 * n, 32 * n + 7]);
        // Remove from one end, then in a stride, so nodes merge and borrow at every level.
        for (i, &addr) in model.keys().enumerate() {
            if i < model.len() / 3 || i % 3 != 0 {
                tree.remove(&tree.starting_at(addr).unwrap());
                if i % 53 == 0 {
                    tree.check();
                }
            }
        }
        tree.check();
        model.retain(|&addr, _| tree.starting_at(addr).is_some());
        assert_queries_agree(&tree, &model, &[0, 16, 48, 80, 81, 32 * n, 32 * n + 7]);
        for addr in model.keys() {
            tree.remove(&tree.starting_at(*addr).unwrap());
        }
        tree.check();
        assert_eq!((tree.len(), tree.height, tree.largest()), (0, 0, 0));
    }

    #[test]
    fn random_inserts_removes_and_resizes_match_a_btreemap() {
        random_changes_match_a_btreemap(FreeTree::new());
    }

    #[test]
    fn the_scalar_node_searches_run_the_same_random_changes_correctly() {
        random_changes_match_a_btreemap(FreeTree::with_lanes(Lanes::SCALAR));
    }

    fn random_changes_match_a_btreemap(mut tree: FreeTree) {
        let mut next = crate::alloc::model::random::xorshift(0x9E37_79B9_7F4A_7C15);
        // Blocks live in slots of 1024 bytes: slot `k` holds at most one block, inside it.
        let mut model: BTreeMap<Addr, Bytes> = BTreeMap::new();
        for step in 0..30_000 {
            let r = next();
            let slot_addr = 1024 * (r % 600);
            let existing = model.range(slot_addr..slot_addr + 1024).next().map(|(&a, &s)| (a, s));
            match (existing, (r >> 32) % 4) {
                (None, _) => {
                    let (addr, size) =
                        (slot_addr + 16 * ((r >> 12) % 8), 16 * ((r >> 20) % 40 + 1));
                    tree.insert(addr, size);
                    model.insert(addr, size);
                }
                (Some((addr, _)), 0 | 1) => {
                    tree.remove(&tree.starting_at(addr).unwrap());
                    model.remove(&addr);
                }
                (Some((addr, _)), _) => {
                    // Move either end within the slot.
                    let start = slot_addr + 16 * ((r >> 40) % 8);
                    let end = (start + 16 * ((r >> 48) % 50 + 1)).min(slot_addr + 1024);
                    tree.set(&tree.starting_at(addr).unwrap(), start, end - start);
                    model.remove(&addr);
                    model.insert(start, end - start);
                }
            }
            if step % 1000 == 0 || model.len() < 20 {
                tree.check();
            }
            if step % 5000 == 0 {
                assert_queries_agree(&tree, &model, &[16, 100, 320, 640, 1024 * 300 + 5]);
            }
        }
        tree.check();
        assert_queries_agree(&tree, &model, &[0, 16, 100, 320, 640, 1024 * 300 + 5]);
    }

    #[test]
    fn a_block_that_moves_up_past_a_stale_separator_is_still_found() {
        let mut tree = sample(LEAF_CAP as u64 + 1);
        assert_eq!(tree.height, 1);
        let separator = tree.inners[tree.root as usize].keys[1];
        // The block the separator came from goes; the separator stays.
        tree.remove(&tree.starting_at(separator).unwrap());
        // The block before it grows over the gap, then gives up its low end, as a free block
        // does when it is merged with a freed neighbour and then allocated from.
        let below = tree.before(tree.seek(separator)).unwrap();
        let (addr, _) = tree.get(&below);
        tree.set(&below, addr, separator + 64 - addr);
        tree.set(&below, separator + 16, 48);
        tree.check();
        assert_eq!(block(&tree, tree.starting_at(separator + 16)), Some((separator + 16, 48)));
        assert_eq!(
            block(&tree, tree.first_fit_ending_above(separator, 48)),
            Some((separator + 16, 48))
        );
    }

    #[test]
    fn other_cursors_survive_a_resize() {
        let mut tree = sample(100);
        let a = tree.starting_at(4_000).unwrap();
        let b = tree.starting_at(4_100).unwrap();
        tree.set(&a, 4_000, 96);
        assert_eq!(tree.get(&b), (4_100, 16 * (41 % 7 + 1)));
        tree.remove(&b);
        tree.check();
        assert_eq!(block(&tree, tree.starting_at(4_000)), Some((4_000, 96)));
    }

    #[test]
    fn node_slots_are_reused_so_churn_does_not_grow_the_arenas() {
        let mut tree = sample(5_000);
        let (leaves, inners) = (tree.leaves.len(), tree.inners.len());
        for round in 0..4 {
            for i in (round..5_000).step_by(2) {
                tree.remove(&tree.starting_at(100 * i).unwrap());
            }
            for i in (round..5_000).step_by(2) {
                tree.insert(100 * i, 16);
            }
        }
        tree.check();
        assert!(tree.leaves.len() <= 2 * leaves, "{} leaves, from {leaves}", tree.leaves.len());
        assert!(tree.inners.len() <= 2 * inners + 2, "{} inners", tree.inners.len());
    }
}
