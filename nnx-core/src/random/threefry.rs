//! The Threefry-2x32 block function (20 rounds), as used by JAX's default PRNG.

/// Rotation amounts of the two alternating groups of four rounds.
const ROTATIONS: [[u32; 4]; 2] = [[13, 15, 26, 6], [17, 29, 16, 24]];

/// PrngKey-schedule parity constant of Threefry.
const PARITY: u32 = 0x1BD1_1BDA;

/// Hashes the counter pair `(x0, x1)` under `key`, returning two 32-bit words.
///
/// This is the 20-round Threefry-2x32 function of Salmon et al. (Random123),
/// which JAX calls `threefry2x32`.
///
/// ```
/// use nnx_core::random::threefry2x32;
/// // Known-answer vector from the Random123 distribution.
/// assert_eq!(threefry2x32([0, 0], [0, 0]), [0x6b20_0159, 0x99ba_4efe]);
/// ```
#[inline]
pub fn threefry2x32(key: [u32; 2], counter: [u32; 2]) -> [u32; 2] {
    let [[x0], [x1]] = threefry_lanes(key, [[counter[0]], [counter[1]]]);
    [x0, x1]
}

/// Threefry-2x32 on `L` counter pairs at once (`x[0]` high words, `x[1]` low
/// words). Every step is a loop over the lanes with constant rotations, which
/// the compiler turns into vector instructions.
#[inline(always)]
pub(crate) fn threefry_lanes<const L: usize>(key: [u32; 2], x: [[u32; L]; 2]) -> [[u32; L]; 2] {
    let ks = [key[0], key[1], key[0] ^ key[1] ^ PARITY];
    let [mut x0, mut x1] = x;
    inject(&mut x0, &mut x1, ks[0], ks[1]);
    // Five groups of four rounds, each followed by a key injection.
    macro_rules! group {
        ($i:literal) => {
            for r in ROTATIONS[$i % 2] {
                round(&mut x0, &mut x1, r);
            }
            inject(
                &mut x0,
                &mut x1,
                ks[($i + 1) % 3],
                ks[($i + 2) % 3].wrapping_add($i + 1),
            );
        };
    }
    group!(0);
    group!(1);
    group!(2);
    group!(3);
    group!(4);
    [x0, x1]
}

/// One Threefry round on every lane.
#[inline(always)]
fn round<const L: usize>(x0: &mut [u32; L], x1: &mut [u32; L], r: u32) {
    for j in 0..L {
        x0[j] = x0[j].wrapping_add(x1[j]);
        x1[j] = x1[j].rotate_left(r) ^ x0[j];
    }
}

/// Adds key words to every lane.
#[inline(always)]
fn inject<const L: usize>(x0: &mut [u32; L], x1: &mut [u32; L], k0: u32, k1: u32) {
    for j in 0..L {
        x0[j] = x0[j].wrapping_add(k0);
        x1[j] = x1[j].wrapping_add(k1);
    }
}

/// Hashes the 64-bit counter `index` (split into high and low words) under `key`.
///
/// JAX's partitionable mode feeds every flat element index this way.
#[inline]
pub(crate) fn hash_index(key: [u32; 2], index: u64) -> [u32; 2] {
    threefry2x32(key, [(index >> 32) as u32, index as u32])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random123_known_answers() {
        assert_eq!(threefry2x32([0, 0], [0, 0]), [0x6b20_0159, 0x99ba_4efe]);
        assert_eq!(
            threefry2x32([0xffff_ffff, 0xffff_ffff], [0xffff_ffff, 0xffff_ffff]),
            [0x1cb9_96fc, 0xbb00_2be7]
        );
        assert_eq!(
            threefry2x32([0x1319_8a2e, 0x0370_7344], [0x243f_6a88, 0x85a3_08d3]),
            [0xc492_3a9c, 0x483d_f7a0]
        );
    }

    #[test]
    fn hash_index_splits_words() {
        assert_eq!(
            hash_index([1, 2], (3 << 32) | 4),
            threefry2x32([1, 2], [3, 4])
        );
    }
}
