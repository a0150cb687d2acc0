// SPDX-License-Identifier: GPL-2.0
/* CO-RE self-check on types of our own (issue 12, "CO-RE self-checks").
 *
 * One program, run with BPF_PROG_TEST_RUN, returns 0 only when every CO-RE
 * relocation resolved to what the target BTF says.  Every check is
 * CHECK(cond): a failed check returns its own source line, so the test names
 * the failing check by reading this file.  What the target says is not known
 * here: the test computes it from the target BTF it hands to the loader and
 * passes it in .rodata (the exp_* globals); the same object thus checks
 * itself against the object's own types, a shifted/flavoured target built
 * with bpfnb's BTF writer, or anything else.
 *
 * Two kinds of checks:
 *  - relocated constants (bpf_core_field_offset/size/exists, SIGNED,
 *    LSHIFT/RSHIFT, type id local/target, type exists/size/matches, enum
 *    value exists/value) compared with exp_*;
 *  - values read through relocated loads from `blob`, which the test fills
 *    with the same values laid out as the *target* describes them: only a
 *    load patched to the target's offset and size reads them back.
 *
 * Covered: plain members, a load whose size changes, signed and unsigned
 * bitfields (one 40 bits wide), arrays of scalars, of structs and of arrays,
 * members two anonymous levels deep, ENUM and ENUM64, a flavoured local type
 * (cs_flav___v1/___v2: a renamed member, the pattern of task_struct's
 * state/__state).
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#define CHECK(cond) do { if (!(cond)) return __LINE__; } while (0)
#define HIDE(p) asm volatile("" : "+r"(p))

enum cs_color { CS_RED = 1, CS_GREEN = 2, CS_BLUE = 7 };
enum cs_big { CS_HUGE = 0x100000002ULL, CS_SMALL = 3 };

struct cs_inner {
	int a;
	short b;
} __attribute__((preserve_access_index));

struct cs_pair {
	int x;
	int y;
} __attribute__((preserve_access_index));

struct cs_basic {
	char c;
	int i;
	long long ll;
	unsigned int grow;
	unsigned int ub:3;
	int sb:5;
	unsigned long long wide:40;
	short arr[4];
	struct cs_inner in[2];
	union {
		int u1;
		struct {
			short s1;
			short s2;
		};
	};
	int grid[2][3];
	enum cs_color col;
	enum cs_big big;
	struct cs_pair *ptr;
} __attribute__((preserve_access_index));

/* Flavours of one type "cs_flav": a member renamed between versions. */
struct cs_flav___v1 {
	int pad;
	long fresh;
} __attribute__((preserve_access_index));

struct cs_flav___v2 {
	long stale;
	int pad2;
} __attribute__((preserve_access_index));

/* Exists only where the target says so. */
struct cs_absent {
	int z;
} __attribute__((preserve_access_index));

/* The target's layouts filled with these values, by the test. */
const volatile unsigned char blob[512] = {};
const volatile __u32 flav_at = 0;	/* where in blob the cs_flav value starts */

/* What the target BTF says, computed by the test. */
const volatile __u32 exp_off_c = 0, exp_off_i = 0, exp_off_ll = 0, exp_off_grow = 0, exp_off_arr2 = 0;
const volatile __u32 exp_off_in1b = 0, exp_off_s2 = 0, exp_off_grid12 = 0, exp_off_col = 0, exp_off_ptr = 0;
const volatile __u32 exp_sz_i = 0, exp_sz_grow = 0, exp_sz_arr = 0, exp_sz_in = 0, exp_sz_grid = 0, exp_sz_big = 0;
const volatile __u32 exp_signed_i = 0, exp_signed_c = 0;
const volatile __u32 exp_ub_off = 0, exp_ub_sz = 0, exp_ub_lshift = 0, exp_ub_rshift = 0;
const volatile __u32 exp_sb_off = 0, exp_sb_sz = 0, exp_sb_lshift = 0, exp_sb_rshift = 0;
const volatile __u32 exp_wide_off = 0, exp_wide_sz = 0, exp_wide_lshift = 0, exp_wide_rshift = 0;
const volatile __u32 exp_exists_ptr = 0, exp_exists_fresh = 0, exp_exists_stale = 0;
const volatile __u32 exp_off_fresh = 0, exp_off_stale = 0;
const volatile __u32 exp_id_local = 0, exp_id_target = 0, exp_id_target_inner = 0;
const volatile __u32 exp_type_size = 0, exp_type_exists_absent = 0, exp_match_inner = 0, exp_match_pair = 0;
const volatile __u32 exp_blue_exists = 0;
const volatile __u64 exp_red = 0, exp_green = 0, exp_blue = 0, exp_huge = 0;

#define V_C 0x5a
#define V_I (-123456)
#define V_LL 0x1122334455667788LL
#define V_GROW 0xdeadbeefU
#define V_UB 5
#define V_SB (-7)
#define V_WIDE 0xabcdef0123ULL
#define V_ARR2 (-300)
#define V_IN1B 0x1234
#define V_S2 0x4321
#define V_GRID12 77
#define V_FRESH 0x0102030405060708L
#define V_STALE 0x1111222233334444L

static __always_inline int check_constants(void)
{
	/* field byte offsets and sizes, through arrays and anonymous members */
	CHECK(bpf_core_field_offset(struct cs_basic, c) == exp_off_c);
	CHECK(bpf_core_field_offset(struct cs_basic, i) == exp_off_i);
	CHECK(bpf_core_field_offset(struct cs_basic, ll) == exp_off_ll);
	CHECK(bpf_core_field_offset(struct cs_basic, grow) == exp_off_grow);
	CHECK(bpf_core_field_offset(struct cs_basic, arr[2]) == exp_off_arr2);
	CHECK(bpf_core_field_offset(struct cs_basic, in[1].b) == exp_off_in1b);
	CHECK(bpf_core_field_offset(struct cs_basic, s2) == exp_off_s2);
	CHECK(bpf_core_field_offset(struct cs_basic, grid[1][2]) == exp_off_grid12);
	CHECK(bpf_core_field_offset(struct cs_basic, col) == exp_off_col);
	CHECK(bpf_core_field_size(struct cs_basic, i) == exp_sz_i);
	CHECK(bpf_core_field_size(struct cs_basic, grow) == exp_sz_grow);
	CHECK(bpf_core_field_size(struct cs_basic, arr) == exp_sz_arr);
	CHECK(bpf_core_field_size(struct cs_basic, in) == exp_sz_in);
	CHECK(bpf_core_field_size(struct cs_basic, grid) == exp_sz_grid);
	CHECK(bpf_core_field_size(struct cs_basic, big) == exp_sz_big);
	CHECK(bpf_core_field_exists(struct cs_basic, ptr) == exp_exists_ptr);
	if (bpf_core_field_exists(struct cs_basic, ptr))
		CHECK(bpf_core_field_offset(struct cs_basic, ptr) == exp_off_ptr);

	/* signedness and bitfield geometry */
	struct cs_basic *z = 0;
	CHECK(__builtin_preserve_field_info(z->i, BPF_FIELD_SIGNED) == exp_signed_i);
	CHECK(__builtin_preserve_field_info(z->c, BPF_FIELD_SIGNED) == exp_signed_c);
	CHECK(__builtin_preserve_field_info(z->ub, BPF_FIELD_SIGNED) == 0);
	CHECK(__builtin_preserve_field_info(z->sb, BPF_FIELD_SIGNED) == 1);
	CHECK(__builtin_preserve_field_info(z->ub, BPF_FIELD_BYTE_OFFSET) == exp_ub_off);
	CHECK(__builtin_preserve_field_info(z->ub, BPF_FIELD_BYTE_SIZE) == exp_ub_sz);
	CHECK(__builtin_preserve_field_info(z->ub, BPF_FIELD_LSHIFT_U64) == exp_ub_lshift);
	CHECK(__builtin_preserve_field_info(z->ub, BPF_FIELD_RSHIFT_U64) == exp_ub_rshift);
	CHECK(__builtin_preserve_field_info(z->sb, BPF_FIELD_BYTE_OFFSET) == exp_sb_off);
	CHECK(__builtin_preserve_field_info(z->sb, BPF_FIELD_BYTE_SIZE) == exp_sb_sz);
	CHECK(__builtin_preserve_field_info(z->sb, BPF_FIELD_LSHIFT_U64) == exp_sb_lshift);
	CHECK(__builtin_preserve_field_info(z->sb, BPF_FIELD_RSHIFT_U64) == exp_sb_rshift);
	CHECK(__builtin_preserve_field_info(z->wide, BPF_FIELD_BYTE_OFFSET) == exp_wide_off);
	CHECK(__builtin_preserve_field_info(z->wide, BPF_FIELD_BYTE_SIZE) == exp_wide_sz);
	CHECK(__builtin_preserve_field_info(z->wide, BPF_FIELD_LSHIFT_U64) == exp_wide_lshift);
	CHECK(__builtin_preserve_field_info(z->wide, BPF_FIELD_RSHIFT_U64) == exp_wide_rshift);

	/* flavours: each member exists in the flavour that has it */
	CHECK(bpf_core_field_exists(struct cs_flav___v1, fresh) == exp_exists_fresh);
	CHECK(bpf_core_field_exists(struct cs_flav___v2, stale) == exp_exists_stale);
	if (bpf_core_field_exists(struct cs_flav___v1, fresh))
		CHECK(bpf_core_field_offset(struct cs_flav___v1, fresh) == exp_off_fresh);
	if (bpf_core_field_exists(struct cs_flav___v2, stale))
		CHECK(bpf_core_field_offset(struct cs_flav___v2, stale) == exp_off_stale);

	/* type-based relocations */
	CHECK(bpf_core_type_id_local(struct cs_basic) == exp_id_local);
	CHECK(bpf_core_type_id_kernel(struct cs_basic) == exp_id_target);
	CHECK(bpf_core_type_id_kernel(struct cs_inner) == exp_id_target_inner);
	CHECK(bpf_core_type_size(struct cs_basic) == exp_type_size);
	CHECK(bpf_core_type_exists(struct cs_basic) == 1);
	CHECK(bpf_core_type_exists(struct cs_absent) == exp_type_exists_absent);
	CHECK(bpf_core_type_matches(struct cs_inner) == exp_match_inner);
	CHECK(bpf_core_type_matches(struct cs_pair) == exp_match_pair);

	/* enumerators, 32 and 64 bits */
	CHECK(bpf_core_enum_value_exists(enum cs_color, CS_RED) == 1);
	CHECK(bpf_core_enum_value_exists(enum cs_color, CS_BLUE) == exp_blue_exists);
	CHECK(bpf_core_enum_value(enum cs_color, CS_RED) == exp_red);
	CHECK(bpf_core_enum_value(enum cs_color, CS_GREEN) == exp_green);
	if (bpf_core_enum_value_exists(enum cs_color, CS_BLUE))
		CHECK(bpf_core_enum_value(enum cs_color, CS_BLUE) == exp_blue);
	CHECK(bpf_core_enum_value(enum cs_big, CS_HUGE) == exp_huge);
	return 0;
}

static __always_inline int check_values(void)
{
	const struct cs_basic *obj = (const void *)blob;
	HIDE(obj);

	/* relocated loads: offset and, for grow, the load size */
	CHECK(obj->c == V_C);
	CHECK(obj->i == V_I);
	CHECK(obj->ll == V_LL);
	CHECK(obj->grow == V_GROW);
	CHECK(obj->arr[2] == V_ARR2);
	CHECK(obj->in[1].b == V_IN1B);
	CHECK(obj->s2 == V_S2);
	CHECK(obj->grid[1][2] == V_GRID12);
	CHECK(obj->col == exp_green);
	/* bitfields: relocated offset, load size, shifts and sign */
	CHECK(BPF_CORE_READ_BITFIELD(obj, ub) == V_UB);
	CHECK((long long)BPF_CORE_READ_BITFIELD(obj, sb) == V_SB);
	CHECK(BPF_CORE_READ_BITFIELD(obj, wide) == V_WIDE);
	/* the same through bpf_probe_read_kernel, as BPF_CORE_READ does */
	CHECK(BPF_CORE_READ(obj, in[1].b) == V_IN1B);
	CHECK(BPF_CORE_READ(obj, s2) == V_S2);

	const void *f = (const void *)blob + flav_at;
	HIDE(f);
	if (bpf_core_field_exists(struct cs_flav___v1, fresh))
		CHECK(((const struct cs_flav___v1 *)f)->fresh == V_FRESH);
	if (bpf_core_field_exists(struct cs_flav___v2, stale))
		CHECK(((const struct cs_flav___v2 *)f)->stale == V_STALE);
	return 0;
}

SEC("raw_tp/sys_enter")
int selfcheck(void *ctx)
{
	int err = check_constants();

	if (err)
		return err;
	return check_values();
}

char _license[] SEC("license") = "GPL";
