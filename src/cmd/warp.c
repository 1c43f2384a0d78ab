/*
 * warp — the one binary: `warp run`, `warp migrate`, `warp config check`,
 * `warp version`.
 */
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "version") == 0) {
		printf("warp 0.1.0\n");
		return 0;
	}
	fprintf(stderr, "usage: warp run|migrate|config check|version\n");
	return 2;
}
