// SPDX-License-Identifier: GPL-2.0
/* The instruction-set fixture (built with -mcpu=v4): every opcode class,
 * ALU/ALU64 op with K and X sources, JMP/JMP32 condition, atomic op, byte
 * swap, signed division, sign-extending move and load, gotol across a far
 * distance, LD_ABS/LD_IND, and every ld_imm64 form clang emits in an object
 * (plain 64-bit constant, map, map value, callback function).  Inline asm
 * forces the opcodes clang would not pick on its own; the natural C parts
 * check that the compiler's own choices decode too.  tests/test_asm_isa.py
 * asserts that each claimed opcode really is in the built object. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} isa_counts SEC(".maps");

__u64 isa_total = 0;                    /* .bss: ld_imm64 map value */
volatile __s64 isa_signed = -7;         /* .data */

extern void bpf_rcu_read_lock(void) __ksym;
extern void bpf_rcu_read_unlock(void) __ksym;

/* Every ALU op as "wN op= K", "wN op= wM", "rN op= K", "rN op= rM". */
#define ALU_ONE(op)                                                  \
	"w1 " op " 3;" "w1 " op " w2;" "r1 " op " 3;" "r1 " op " r2;"

SEC("socket")
int alu_all(struct __sk_buff *skb)
{
	asm volatile(
		"r1 = 100;" "r2 = 7;"
		ALU_ONE("+=") ALU_ONE("-=") ALU_ONE("*=") ALU_ONE("/=")
		ALU_ONE("|=") ALU_ONE("&=") ALU_ONE("<<=") ALU_ONE(">>=")
		ALU_ONE("%%=") ALU_ONE("^=") ALU_ONE("=") ALU_ONE("s>>=")
		ALU_ONE("s/=") ALU_ONE("s%%=")
		"w1 = -w1;" "r1 = -r1;"
		"r1 = (s8)r2;" "r1 = (s16)r2;" "r1 = (s32)r2;"
		"w1 = (s8)w2;" "w1 = (s16)w2;"
		"r1 = le16 r1;" "r1 = le32 r1;" "r1 = le64 r1;"
		"r1 = be16 r1;" "r1 = be32 r1;" "r1 = be64 r1;"
		"r1 = bswap16 r1;" "r1 = bswap32 r1;" "r1 = bswap64 r1;"
		"w1 = 0x7fffffff;" "r1 = -0x80000000;"
		::: "r1", "r2");
	return 0;
}

/* Every condition as "if rN op K", "if rN op rM", and the 32-bit forms. */
#define JMP_ONE(op)                                                    \
	"if r1 " op " 5 goto +0;" "if r1 " op " r2 goto +0;"          \
	"if w1 " op " 5 goto +0;" "if w1 " op " w2 goto +0;"

SEC("socket")
int jmp_all(struct __sk_buff *skb)
{
	asm volatile(
		"r1 = 1;" "r2 = 2;"
		JMP_ONE("==") JMP_ONE("!=") JMP_ONE(">") JMP_ONE(">=")
		JMP_ONE("<") JMP_ONE("<=") JMP_ONE("s>") JMP_ONE("s>=")
		JMP_ONE("s<") JMP_ONE("s<=") JMP_ONE("&")
		"if r1 s< -1 goto -1;"
		"goto +0;" "gotol +0;" "may_goto +0;"
		::: "r1", "r2");
	return 0;
}

SEC("socket")
int mem_all(struct __sk_buff *skb)
{
	asm volatile(
		"r6 = r1;"
		/* LD_ABS / LD_IND (legacy packet access, r6 = skb). */
		"r0 = *(u8 *)skb[1];" "r0 = *(u16 *)skb[2];" "r0 = *(u32 *)skb[4];"
		"r7 = 3;"
		"r0 = *(u8 *)skb[r7];" "r0 = *(u16 *)skb[r7];" "r0 = *(u32 *)skb[r7];"
		/* ST (immediate stores) of every size. */
		"*(u8 *)(r10 - 1) = 1;" "*(u16 *)(r10 - 4) = 2;"
		"*(u32 *)(r10 - 8) = 3;" "*(u64 *)(r10 - 16) = -4;"
		/* STX and LDX of every size, LDX sign-extending of B/H/W. */
		"r2 = 9;"
		"*(u8 *)(r10 - 24) = r2;" "*(u16 *)(r10 - 24) = r2;"
		"*(u32 *)(r10 - 24) = r2;" "*(u64 *)(r10 - 24) = r2;"
		"r3 = *(u8 *)(r10 - 24);" "r3 = *(u16 *)(r10 - 24);"
		"r3 = *(u32 *)(r10 - 24);" "r3 = *(u64 *)(r10 - 24);"
		"r3 = *(s8 *)(r10 - 24);" "r3 = *(s16 *)(r10 - 24);"
		"r3 = *(s32 *)(r10 - 24);"
		/* Atomics, 32- and 64-bit, with and without fetch. */
		"r1 = r10;" "r1 += -24;"
		"lock *(u32 *)(r1 + 0) += w2;" "lock *(u64 *)(r1 + 0) += r2;"
		"lock *(u32 *)(r1 + 0) |= w2;" "lock *(u64 *)(r1 + 0) |= r2;"
		"lock *(u32 *)(r1 + 0) &= w2;" "lock *(u64 *)(r1 + 0) &= r2;"
		"lock *(u32 *)(r1 + 0) ^= w2;" "lock *(u64 *)(r1 + 0) ^= r2;"
		"w2 = atomic_fetch_add((u32 *)(r1 + 0), w2);"
		"r2 = atomic_fetch_add((u64 *)(r1 + 0), r2);"
		"w2 = atomic_fetch_or((u32 *)(r1 + 0), w2);"
		"r2 = atomic_fetch_or((u64 *)(r1 + 0), r2);"
		"w2 = atomic_fetch_and((u32 *)(r1 + 0), w2);"
		"r2 = atomic_fetch_and((u64 *)(r1 + 0), r2);"
		"w2 = atomic_fetch_xor((u32 *)(r1 + 0), w2);"
		"r2 = atomic_fetch_xor((u64 *)(r1 + 0), r2);"
		"w2 = xchg32_32(r1 + 0, w2);" "r2 = xchg_64(r1 + 0, r2);"
		"w0 = cmpxchg32_32(r1 + 0, w0, w2);"
		"r0 = cmpxchg_64(r1 + 0, r0, r2);"
		/* A 64-bit constant needs ld_imm64. */
		"r4 = 0x123456789abcdef0 ll;" "r4 = -2 ll;"
		::: "r0", "r1", "r2", "r3", "r4", "r6", "r7", "memory");
	return 0;
}

static long isa_loop_cb(__u32 i, void *ctx)
{
	*(__u64 *)ctx += i;
	return 0;
}

static __attribute__((noinline)) __s64 isa_sub(__s64 a, __s64 b)
{
	return a / b + a % b;
}

/* Natural C: helper calls, bpf2bpf call, callback (ld_imm64 of a function),
 * map and global-variable references, atomics, byte swaps, sign extension
 * and signed division picked by the compiler itself. */
SEC("socket")
int natural(struct __sk_buff *skb)
{
	__u32 key = skb->len & 3;
	__u64 acc = 0, *slot;
	__s8 narrow = (__s8)skb->mark;

	bpf_loop(4, isa_loop_cb, &acc, 0);
	slot = bpf_map_lookup_elem(&isa_counts, &key);
	if (slot) {
		__sync_fetch_and_add(slot, acc);
		__sync_fetch_and_or(slot, 1);
		acc = __sync_fetch_and_xor(slot, 2);
		acc += __sync_val_compare_and_swap(slot, acc, 3);
	}
	isa_total += __builtin_bswap64(acc) + (__s64)narrow;
	return (int)isa_sub(isa_signed, (__s64)narrow | 1);
}

/* A kfunc call (BPF_PSEUDO_KFUNC_CALL once relocated). */
SEC("tp_btf/sched_switch")
int kfunc_user(void *ctx)
{
	bpf_rcu_read_lock();
	bpf_rcu_read_unlock();
	return 0;
}

/* gotol: a jump over more slots than a 16-bit offset reaches. */
SEC("socket")
int far_jump(struct __sk_buff *skb)
{
	asm volatile(
		"r0 = 0;"
		"if r0 == 0 goto 1f;"
		"gotol 2f;"
		"1:"
		".rept 33000\n r0 += 1\n .endr\n"
		"2:"
		::: "r0");
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
