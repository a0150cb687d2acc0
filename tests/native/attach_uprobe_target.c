/* A tiny program for uprobe tests: calls bpfnb_probe_me(i) for i = 1..N.
 *
 * noinline and a volatile sink keep every call a real call the probe sees;
 * the sum printed at the end lets the test check what the probes saw
 * (arguments 1..N, return values 2*i). */
#include <stdio.h>
#include <stdlib.h>

volatile long sink;

__attribute__((noinline)) int bpfnb_probe_me(int x)
{
	sink += x;
	return 2 * x;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 3;
	long total = 0;

	for (int i = 1; i <= n; i++)
		total += bpfnb_probe_me(i);
	printf("%ld\n", total);
	return 0;
}
