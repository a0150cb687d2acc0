// SPDX-License-Identifier: GPL-2.0
/* A static function placed in a program's own section: llvm resolves the
 * call at assembly time, so it carries no relocation and its imm is
 * relative to the call inside that section.  libbpf refuses such objects
 * at open ("program is static"); bpfnb appends the function like a .text
 * subprogram. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

static __attribute__((noinline, section("socket"))) int twice(int x)
{
	return x * 2 + 1;
}

SEC("socket")
int calls_in_section(struct __sk_buff *skb)
{
	return twice(skb->len) & 0xff;
}


SEC("socket")
int calls_backwards(struct __sk_buff *skb)
{
	return twice(skb->protocol) & 0x7f;
}
char _license[] SEC("license") = "GPL";
