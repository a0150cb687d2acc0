// SPDX-License-Identifier: GPL-2.0
/* Loader parity, program types set by the loader (issue 12, item 5):
 * sections without a standard name, typed with set_program_type (libbpf's
 * bpf_program__set_type / bpf_program__set_expected_attach_type). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("bpfnb_parity/filter")
int custom_filter(struct __sk_buff *skb)
{
	return skb->len > 64 ? skb->len : 0;
}

SEC("bpfnb_parity/ingress")
int custom_ingress(struct __sk_buff *skb)
{
	return 1;
}

SEC("socket")
int std_socket(struct __sk_buff *skb)
{
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
