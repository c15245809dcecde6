//! An artifact's name: the BLAKE3 of its bytes, hashed on every core.
//!
//! BLAKE3 is a tree: the input splits into subtrees whose chaining values merge into the
//! root, so the subtrees of one input can be hashed on different threads and the result
//! is the same hash one thread computes. A 100 MB dataset took 14–16 ms on one core, the
//! last step of an import while the other core waited; each half now takes its share.
//! The splits follow BLAKE3's own tree (`hazmat::left_subtree_len`), which is what makes
//! the merge valid; a test checks the result against `blake3::hash` over many lengths
//! and part boundaries.

use blake3::Hasher;
use blake3::hazmat::{ChainingValue, HasherExt, Mode, left_subtree_len};
use bytes::Bytes;

/// Inputs up to this size are hashed on one thread: below it a thread costs more than
/// it saves.
const ONE_THREAD: u64 = 4 << 20;

/// The BLAKE3 of `parts` taken as one input, in hex (what `b3sum` prints for the file).
pub(crate) fn content_hash(parts: &[Bytes]) -> String {
    let len: u64 = parts.iter().map(|p| p.len() as u64).sum();
    // Subtrees of about a core's share, two per core so that BLAKE3's uneven splits (a
    // power of two on the left) still keep every core busy. Small inputs (most block
    // outputs) never ask how many cores there are: on Linux that reads cgroup files.
    let leaf = if len > ONE_THREAD {
        (len / (2 * cores())).max(ONE_THREAD)
    } else {
        ONE_THREAD
    };
    let input = Parts { parts };
    let hash = if len <= leaf {
        let mut h = Hasher::new();
        input.feed(&mut h, 0, len);
        h.finalize()
    } else {
        let (left, right) = input.halves(0, len, leaf);
        blake3::hazmat::merge_subtrees_root(&left, &right, Mode::Hash)
    };
    hash.to_hex().to_string()
}

/// The cores this process may use, asked once.
fn cores() -> u64 {
    static CORES: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get() as u64))
}

/// Byte ranges of parts laid end to end.
struct Parts<'a> {
    parts: &'a [Bytes],
}

impl Parts<'_> {
    /// Feeds `len` bytes from `offset` (of the whole input) to `h`.
    fn feed(&self, h: &mut Hasher, offset: u64, len: u64) {
        let (mut skip, mut left) = (offset, len);
        for part in self.parts {
            if left == 0 {
                break;
            }
            let n = part.len() as u64;
            if skip >= n {
                skip -= n;
                continue;
            }
            let take = (n - skip).min(left);
            h.update(&part[skip as usize..(skip + take) as usize]);
            left -= take;
            skip = 0;
        }
    }

    /// The chaining value of the subtree of `len` bytes at `offset`.
    fn subtree(&self, offset: u64, len: u64, leaf: u64) -> ChainingValue {
        if len <= leaf {
            let mut h = Hasher::new();
            h.set_input_offset(offset);
            self.feed(&mut h, offset, len);
            return h.finalize_non_root();
        }
        let (left, right) = self.halves(offset, len, leaf);
        blake3::hazmat::merge_subtrees_non_root(&left, &right, Mode::Hash)
    }

    /// The chaining values of the two children of the subtree of `len` bytes at `offset`
    /// (longer than one chunk), the right one on a thread of its own.
    fn halves(&self, offset: u64, len: u64, leaf: u64) -> (ChainingValue, ChainingValue) {
        let split = left_subtree_len(len);
        std::thread::scope(|s| {
            let right = s.spawn(|| self.subtree(offset + split, len - split, leaf));
            let left = self.subtree(offset, split, leaf);
            (left, right.join().expect("a hashing thread panicked"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `data` cut into parts at `cuts`.
    fn cut(data: &[u8], cuts: &[usize]) -> Vec<Bytes> {
        let mut parts = Vec::new();
        let mut at = 0;
        for &c in cuts.iter().chain([&data.len()]) {
            let c = c.min(data.len()).max(at);
            parts.push(Bytes::copy_from_slice(&data[at..c]));
            at = c;
        }
        parts
    }

    #[test]
    fn the_hash_on_several_threads_is_blake3_of_the_whole_input() {
        let data: Vec<u8> = (0..(37u64 << 20) + 4321)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        // Lengths around chunk and subtree edges and the one-thread threshold, each in
        // parts cut off every boundary (and one part, and empty parts).
        let chunk = blake3::CHUNK_LEN;
        let lengths = [
            0,
            1,
            chunk - 1,
            chunk,
            chunk + 1,
            ONE_THREAD as usize - 1,
            ONE_THREAD as usize,
            ONE_THREAD as usize + 1,
            8 << 20,
            (8 << 20) + chunk + 3,
            (16 << 20) - 1,
            (21 << 20) + 777,
            data.len(),
        ];
        for len in lengths {
            let input = &data[..len];
            let expected = blake3::hash(input).to_hex().to_string();
            for cuts in [
                vec![],
                vec![0, 0, 3],
                vec![len / 3, len / 3, 2 * len / 3 + 5],
                vec![chunk * 7 + 1, 5 << 20, (5 << 20) + 1, 12 << 20],
            ] {
                let parts = cut(input, &cuts);
                assert_eq!(parts.iter().map(Bytes::len).sum::<usize>(), len);
                assert_eq!(
                    content_hash(&parts),
                    expected,
                    "{len} bytes cut at {cuts:?}"
                );
            }
        }
    }
}
