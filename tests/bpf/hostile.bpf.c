// SPDX-License-Identifier: GPL-2.0
/* Names that must be escaped in HTML and never trusted as paths:
 * section names with markup, a data section with a path in its name. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

__u32 tricky SEC(".data.<i>&amp;") = 1;

SEC("socket/<script>alert(1)</script>")
int html_in_section(struct __sk_buff *skb)
{
	return tricky;
}

SEC("xdp/../../etc/passwd")
int path_in_section(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL<&>";
