//! The ordered index of a large sorted set: a counted B+tree of slot ids.
//!
//! Why a B+tree rather than Redis's skiplist with spans: both give O(log n) insert, delete,
//! rank and select, but a skiplist costs a node allocation per element with 1.33 forward
//! pointers and spans on average (about 48 bytes in Redis) and a cache miss per hop, while
//! the B+tree keeps up to [`LEAF_MAX`] elements per leaf in two flat arrays (12 bytes per
//! element: the score, copied here so that descents rarely touch the element itself, and
//! the element's slot id) and walks ranges leaf by leaf. Inner nodes keep their subtree
//! sizes, so rank and select are O(log n) too.
//!
//! The tree only stores `(score, id)`; ties between equal scores are broken by the member
//! bytes, which the caller provides through a `member_of(id)` function (the members live in
//! the sorted set's slab, see `large.rs`).

use std::cmp::Ordering;

/// Most elements in a leaf.
pub const LEAF_MAX: usize = 64;
/// Most children of an inner node.
pub const INNER_MAX: usize = 64;
/// Below this many entries a node is merged into a neighbour when they fit together.
const LEAF_LOW: usize = LEAF_MAX / 4;
const INNER_LOW: usize = INNER_MAX / 4;

/// Order of `(score, member)` pairs: by score, then by member bytes (Redis's order; scores
/// are never NaN, and -0 equals 0).
#[inline]
pub fn cmp_entries(a_score: f64, a_member: &[u8], b_score: f64, b_member: &[u8]) -> Ordering {
    a_score
        .partial_cmp(&b_score)
        .unwrap_or(Ordering::Equal)
        .then_with(|| a_member.cmp(b_member))
}

/// First index in `0..n` where `pred` is false (`pred` true on a prefix).
#[inline]
fn partition(n: usize, mut pred: impl FnMut(usize) -> bool) -> usize {
    let (mut lo, mut hi) = (0, n);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if pred(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

#[derive(Clone, Debug, Default)]
struct Leaf {
    scores: Vec<f64>,
    ids: Vec<u32>,
}

#[derive(Clone, Debug)]
struct Inner {
    children: Vec<Node>,
    /// Elements in the subtree.
    len: usize,
}

#[derive(Clone, Debug)]
enum Node {
    Leaf(Leaf),
    Inner(Inner),
}

impl Node {
    #[inline]
    fn len(&self) -> usize {
        match self {
            Node::Leaf(l) => l.ids.len(),
            Node::Inner(n) => n.len,
        }
    }

    /// The subtree's smallest element.
    fn first(&self) -> Option<(f64, u32)> {
        match self {
            Node::Leaf(l) => Some((*l.scores.first()?, *l.ids.first()?)),
            Node::Inner(n) => n.children.first()?.first(),
        }
    }

    /// Fan-out measure used for merging: elements of a leaf, children of an inner node.
    fn width(&self) -> usize {
        match self {
            Node::Leaf(l) => l.ids.len(),
            Node::Inner(n) => n.children.len(),
        }
    }

    fn heap_size(&self) -> usize {
        match self {
            Node::Leaf(l) => l.scores.capacity() * 8 + l.ids.capacity() * 4,
            Node::Inner(n) => {
                n.children.capacity() * std::mem::size_of::<Node>()
                    + n.children.iter().map(Node::heap_size).sum::<usize>()
            }
        }
    }
}

impl Inner {
    /// Index of the child whose range holds the key: the last child whose first element is
    /// not greater than the key (child 0 for keys below everything).
    fn route<'m>(&self, score: f64, member: &[u8], member_of: &impl Fn(u32) -> &'m [u8]) -> usize {
        let j = partition(self.children.len(), |i| match self.children[i].first() {
            Some((s, id)) => cmp_entries(s, member_of(id), score, member) != Ordering::Greater,
            None => true,
        });
        j.saturating_sub(1)
    }

    /// The child holding rank `rank` and the rank within it.
    fn child_at(&self, mut rank: usize) -> Option<(usize, usize)> {
        for (i, c) in self.children.iter().enumerate() {
            let n = c.len();
            if rank < n {
                return Some((i, rank));
            }
            rank -= n;
        }
        None
    }

    /// Split off the children from `at` into a new node.
    fn split_off(&mut self, at: usize) -> Inner {
        let children = self.children.split_off(at);
        let moved: usize = children.iter().map(Node::len).sum();
        self.len -= moved;
        Inner {
            children,
            len: moved,
        }
    }

    /// After a removal in child `i`: drop it when empty, merge it into a neighbour when
    /// small and they fit together.
    fn fix_child(&mut self, i: usize) {
        let Some(child) = self.children.get(i) else {
            return;
        };
        if child.len() == 0 {
            self.children.remove(i);
            return;
        }
        let (low, max) = match child {
            Node::Leaf(_) => (LEAF_LOW, LEAF_MAX),
            Node::Inner(_) => (INNER_LOW, INNER_MAX),
        };
        if child.width() >= low {
            return;
        }
        // Merge with the right neighbour if any, else the left one.
        let (left, right) = if i + 1 < self.children.len() {
            (i, i + 1)
        } else if i > 0 {
            (i - 1, i)
        } else {
            return;
        };
        if self.children[left].width() + self.children[right].width() > max {
            return;
        }
        let r = self.children.remove(right);
        match (&mut self.children[left], r) {
            (Node::Leaf(a), Node::Leaf(b)) => {
                a.scores.extend_from_slice(&b.scores);
                a.ids.extend_from_slice(&b.ids);
            }
            (Node::Inner(a), Node::Inner(b)) => {
                a.len += b.len;
                a.children.extend(b.children);
            }
            // Siblings always have the same height; put it back untouched if not.
            (_, r) => self.children.insert(right, r),
        }
    }
}

/// A counted B+tree of `(score, id)` ordered by `(score, member_of(id))`.
#[derive(Clone, Debug)]
pub struct OrderTree {
    root: Node,
}

impl Default for OrderTree {
    fn default() -> Self {
        OrderTree {
            root: Node::Leaf(Leaf::default()),
        }
    }
}

impl OrderTree {
    /// Number of elements.
    #[inline]
    pub fn len(&self) -> usize {
        self.root.len()
    }

    /// True when empty.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Heap bytes held by the nodes.
    pub fn heap_size(&self) -> usize {
        self.root.heap_size()
    }

    /// Insert an element (its key must not be present).
    pub fn insert<'m>(&mut self, score: f64, id: u32, member_of: &impl Fn(u32) -> &'m [u8]) {
        let member = member_of(id);
        if let Some(right) = insert_rec(&mut self.root, score, id, member, member_of) {
            let left = std::mem::replace(&mut self.root, Node::Leaf(Leaf::default()));
            let len = left.len() + right.len();
            self.root = Node::Inner(Inner {
                children: vec![left, right],
                len,
            });
        }
    }

    /// Rank (0-based position) of the first element not less than `(score, member)`.
    pub fn lower_bound<'m>(
        &self,
        score: f64,
        member: &[u8],
        member_of: &impl Fn(u32) -> &'m [u8],
    ) -> usize {
        let mut node = &self.root;
        let mut rank = 0;
        loop {
            match node {
                Node::Leaf(l) => {
                    return rank
                        + partition(l.ids.len(), |i| {
                            cmp_entries(l.scores[i], member_of(l.ids[i]), score, member)
                                == Ordering::Less
                        });
                }
                Node::Inner(n) => {
                    let i = n.route(score, member, member_of);
                    rank += n.children[..i].iter().map(Node::len).sum::<usize>();
                    match n.children.get(i) {
                        Some(c) => node = c,
                        None => return rank,
                    }
                }
            }
        }
    }

    /// Number of leading elements for which `pred(score, id)` holds (`pred` must be true on
    /// a prefix of the order, as "below the range's minimum" is).
    pub fn count_prefix(&self, mut pred: impl FnMut(f64, u32) -> bool) -> usize {
        let mut node = &self.root;
        let mut rank = 0;
        loop {
            match node {
                Node::Leaf(l) => {
                    return rank + partition(l.ids.len(), |i| pred(l.scores[i], l.ids[i]));
                }
                Node::Inner(n) => {
                    let j = partition(n.children.len(), |i| match n.children[i].first() {
                        Some((s, id)) => pred(s, id),
                        None => false,
                    });
                    if j == 0 {
                        return rank;
                    }
                    rank += n.children[..j - 1].iter().map(Node::len).sum::<usize>();
                    node = &n.children[j - 1];
                }
            }
        }
    }

    /// The element at `rank`.
    pub fn get(&self, rank: usize) -> Option<(f64, u32)> {
        let mut node = &self.root;
        let mut rank = rank;
        loop {
            match node {
                Node::Leaf(l) => return Some((*l.scores.get(rank)?, *l.ids.get(rank)?)),
                Node::Inner(n) => {
                    let (i, r) = n.child_at(rank)?;
                    node = n.children.get(i)?;
                    rank = r;
                }
            }
        }
    }

    /// Replace the id of the element at `rank` (the slab moved the element).
    pub fn set_id(&mut self, rank: usize, id: u32) {
        let mut node = &mut self.root;
        let mut rank = rank;
        loop {
            match node {
                Node::Leaf(l) => {
                    if let Some(slot) = l.ids.get_mut(rank) {
                        *slot = id;
                    }
                    return;
                }
                Node::Inner(n) => {
                    let Some((i, r)) = n.child_at(rank) else {
                        return;
                    };
                    match n.children.get_mut(i) {
                        Some(c) => node = c,
                        None => return,
                    }
                    rank = r;
                }
            }
        }
    }

    /// Remove and return the element at `rank`.
    pub fn remove_at(&mut self, rank: usize) -> Option<(f64, u32)> {
        if rank >= self.len() {
            return None;
        }
        let removed = remove_rec(&mut self.root, rank);
        // Shrink the height while the root has a single child.
        loop {
            match &mut self.root {
                Node::Inner(n) if n.children.len() == 1 => {
                    if let Some(only) = n.children.pop() {
                        self.root = only;
                    }
                }
                Node::Inner(n) if n.children.is_empty() => {
                    self.root = Node::Leaf(Leaf::default());
                }
                _ => break,
            }
        }
        removed
    }

    /// Call `f` with the elements of ranks `lo..hi`, ascending, or descending if `reverse`.
    pub fn for_range(&self, lo: usize, hi: usize, reverse: bool, f: &mut impl FnMut(f64, u32)) {
        let hi = hi.min(self.len());
        if lo < hi {
            visit(&self.root, lo, hi, reverse, f);
        }
    }
}

fn insert_rec<'m>(
    node: &mut Node,
    score: f64,
    id: u32,
    member: &[u8],
    member_of: &impl Fn(u32) -> &'m [u8],
) -> Option<Node> {
    match node {
        Node::Leaf(l) => {
            let pos = partition(l.ids.len(), |i| {
                cmp_entries(l.scores[i], member_of(l.ids[i]), score, member) == Ordering::Less
            });
            l.scores.insert(pos, score);
            l.ids.insert(pos, id);
            if l.ids.len() <= LEAF_MAX {
                return None;
            }
            // Appending (ascending inserts) or prepending (descending inserts) splits off a
            // single element, so those common patterns fill leaves completely.
            let at = if pos + 1 == l.ids.len() {
                pos
            } else if pos == 0 {
                1
            } else {
                l.ids.len() / 2
            };
            let right = Leaf {
                scores: l.scores.split_off(at),
                ids: l.ids.split_off(at),
            };
            Some(Node::Leaf(right))
        }
        Node::Inner(n) => {
            let i = n.route(score, member, member_of);
            n.len += 1;
            let right = insert_rec(n.children.get_mut(i)?, score, id, member, member_of)?;
            n.children.insert(i + 1, right);
            if n.children.len() <= INNER_MAX {
                return None;
            }
            let at = if i + 2 == n.children.len() {
                i + 1
            } else {
                n.children.len() / 2
            };
            Some(Node::Inner(n.split_off(at)))
        }
    }
}

fn remove_rec(node: &mut Node, rank: usize) -> Option<(f64, u32)> {
    match node {
        Node::Leaf(l) => {
            if rank >= l.ids.len() {
                return None;
            }
            Some((l.scores.remove(rank), l.ids.remove(rank)))
        }
        Node::Inner(n) => {
            let (i, r) = n.child_at(rank)?;
            let removed = remove_rec(n.children.get_mut(i)?, r)?;
            n.len -= 1;
            n.fix_child(i);
            Some(removed)
        }
    }
}

fn visit(node: &Node, lo: usize, hi: usize, reverse: bool, f: &mut impl FnMut(f64, u32)) {
    match node {
        Node::Leaf(l) => {
            let hi = hi.min(l.ids.len());
            let lo = lo.min(hi);
            let pairs = l.scores[lo..hi].iter().zip(&l.ids[lo..hi]);
            if reverse {
                pairs.rev().for_each(|(s, id)| f(*s, *id));
            } else {
                pairs.for_each(|(s, id)| f(*s, *id));
            }
        }
        Node::Inner(n) => {
            // (child, start rank of the child) of the children overlapping lo..hi.
            let mut spans = Vec::with_capacity(n.children.len());
            let mut start = 0;
            for c in &n.children {
                let end = start + c.len();
                if end > lo && start < hi {
                    spans.push((c, start));
                }
                if end >= hi {
                    break;
                }
                start = end;
            }
            let mut one = |(c, start): (&Node, usize)| {
                let clo = lo.saturating_sub(start);
                let chi = (hi - start).min(c.len());
                visit(c, clo, chi, reverse, f);
            };
            if reverse {
                spans.into_iter().rev().for_each(&mut one);
            } else {
                spans.into_iter().for_each(&mut one);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// Members are the ids' decimal text, kept in a table indexed by id.
    struct Model {
        members: Vec<Vec<u8>>,
        scores: Vec<f64>,
        live: Vec<bool>,
    }

    impl Model {
        fn sorted(&self) -> Vec<(f64, u32)> {
            let mut v: Vec<(f64, u32)> = (0..self.members.len())
                .filter(|&i| self.live[i])
                .map(|i| (self.scores[i], i as u32))
                .collect();
            v.sort_by(|a, b| {
                cmp_entries(
                    a.0,
                    &self.members[a.1 as usize],
                    b.0,
                    &self.members[b.1 as usize],
                )
            });
            v
        }
    }

    fn check(tree: &OrderTree, model: &Model) {
        let member_of = |id: u32| model.members[id as usize].as_slice();
        let want = model.sorted();
        assert_eq!(tree.len(), want.len());
        let mut got = Vec::new();
        tree.for_range(0, tree.len(), false, &mut |s, id| got.push((s, id)));
        assert_eq!(got, want);
        let mut rev = Vec::new();
        tree.for_range(0, tree.len(), true, &mut |s, id| rev.push((s, id)));
        rev.reverse();
        assert_eq!(rev, want);
        for (rank, &(s, id)) in want.iter().enumerate() {
            assert_eq!(tree.get(rank), Some((s, id)));
            assert_eq!(tree.lower_bound(s, member_of(id), &member_of), rank);
        }
        assert_eq!(tree.get(want.len()), None);
    }

    #[test]
    fn random_operations_match_a_sorted_vector() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for round in 0..4 {
            let mut model = Model {
                members: Vec::new(),
                scores: Vec::new(),
                live: Vec::new(),
            };
            let mut tree = OrderTree::default();
            let n = [50, 700, 3000, 9000][round];
            for step in 0..n * 2 {
                let remove = step >= n && rng.gen_bool(0.6);
                if remove && !tree.is_empty() {
                    let rank = rng.gen_range(0..tree.len());
                    let (_, id) = tree.remove_at(rank).unwrap();
                    model.live[id as usize] = false;
                } else {
                    let id = model.members.len() as u32;
                    // Few distinct scores: many ties broken by member.
                    let score = match rng.gen_range(0..3) {
                        0 => rng.gen_range(0..20) as f64,
                        1 => id as f64,
                        _ => -(id as f64),
                    };
                    model
                        .members
                        .push(format!("m{}", rng.gen::<u32>() ^ id).into_bytes());
                    model.scores.push(score);
                    model.live.push(true);
                    let member_of = |i: u32| model.members[i as usize].as_slice();
                    tree.insert(score, id, &member_of);
                }
                if step % 97 == 0 {
                    check(&tree, &model);
                }
            }
            check(&tree, &model);
            // Drain from both ends and the middle.
            while !tree.is_empty() {
                let rank = match tree.len() % 3 {
                    0 => 0,
                    1 => tree.len() - 1,
                    _ => tree.len() / 2,
                };
                let (_, id) = tree.remove_at(rank).unwrap();
                model.live[id as usize] = false;
                if tree.len() % 211 == 0 {
                    check(&tree, &model);
                }
            }
            check(&tree, &model);
        }
    }

    #[test]
    fn ranges_prefix_counts_and_ids() {
        let members: Vec<Vec<u8>> = (0..1000)
            .map(|i| format!("{:04}", i).into_bytes())
            .collect();
        let member_of = |i: u32| members[i as usize].as_slice();
        let mut tree = OrderTree::default();
        // Descending inserts, scores i / 10.
        for i in (0..1000u32).rev() {
            tree.insert((i / 10) as f64, i, &member_of);
        }
        assert_eq!(tree.len(), 1000);
        assert_eq!(tree.count_prefix(|s, _| s < 50.0), 500);
        assert_eq!(tree.count_prefix(|s, _| s <= 50.0), 510);
        assert_eq!(tree.count_prefix(|_, _| false), 0);
        assert_eq!(tree.count_prefix(|_, _| true), 1000);
        assert_eq!(
            tree.count_prefix(|_, id| member_of(id) < b"0123".as_slice()),
            123
        );
        let mut got = Vec::new();
        tree.for_range(995, 2000, true, &mut |_, id| got.push(id));
        assert_eq!(got, vec![999, 998, 997, 996, 995]);
        got.clear();
        tree.for_range(10, 13, false, &mut |_, id| got.push(id));
        assert_eq!(got, vec![10, 11, 12]);
        tree.set_id(10, 4242);
        assert_eq!(tree.get(10), Some((1.0, 4242)));
        assert!(tree.heap_size() > 1000 * 12);
    }
}
