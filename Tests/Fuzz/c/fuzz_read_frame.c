/* libFuzzer target for pam_cognito.so's side of the wire format (pam/PROTOCOL.md "Framing"):
 * the input is what a helper writes on fd 3. It goes through a socketpair into the module's own
 * read_frame(), frame after frame, and every answer is compared with a second, independent reading
 * of the same bytes: the same verdict, the same fields, each inside the frame it came from.
 * The module is included as it is built (no change to pam_cognito.c); scripts/fuzz builds this. */
#include "../../../pam/pam_cognito.c"
#include <stdint.h>
#include <stdio.h>

#define FAIL(...) do { fprintf(stderr, "fuzz_read_frame: " __VA_ARGS__); fputc('\n', stderr); abort(); } while (0)

/* What read_frame must answer for the frame at data[*off..n): IO_OK with its fields, IO_EOF at
 * the very end, IO_BAD for any violation. */
static int expected(const uint8_t *data, size_t n, size_t *off, size_t *nf, size_t starts[], size_t *len)
{
	size_t left = n - *off, i;
	if (left == 0) return IO_EOF;
	if (left < HEADER) return IO_BAD;
	*len = (size_t)data[*off] << 24 | (size_t)data[*off + 1] << 16 | (size_t)data[*off + 2] << 8 | data[*off + 3];
	if (*len == 0 || *len > MAX_FRAME - HEADER || left - HEADER < *len) return IO_BAD;
	const uint8_t *body = data + *off + HEADER;
	if (body[*len - 1] != 0) return IO_BAD;
	*nf = 0;
	for (i = 0; i < *len; i++) {
		if (i == 0 || body[i - 1] == 0) {
			if (*nf == 1 + 2 * MAX_CONV) return IO_BAD;
			starts[(*nf)++] = i;
		}
	}
	return IO_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int sv[2];
	size_t fed = 0, off = 0;
	struct session s = { 0 };
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) FAIL("socketpair: %s", strerror(errno));
	/* What fits in the socket's buffer is the input; the rest is cut off (a helper that stops). */
	(void)fcntl(sv[0], F_SETFL, O_NONBLOCK);
	while (fed < size) {
		ssize_t w = send(sv[0], data + fed, size - fed, MSG_NOSIGNAL);
		if (w <= 0) break;
		fed += (size_t)w;
	}
	(void)shutdown(sv[0], SHUT_WR);
	s.fd = sv[1];
	s.deadline = now_ms() + 10000;
	if ((s.buf = malloc(MAX_FRAME)) == NULL) FAIL("out of memory");
	for (;;) {
		size_t nf = 0, len = 0, starts[1 + 2 * MAX_CONV], i;
		int want = expected(data, fed, &off, &nf, starts, &len);
		int rc = read_frame(&s);
		if (rc != want) FAIL("read_frame answered %d, the framing says %d (offset %zu of %zu)", rc, want, off, fed);
		if (rc != IO_OK) break;
		if (s.nf != nf) FAIL("%zu fields, the frame holds %zu", s.nf, nf);
		for (i = 0; i < nf; i++) {
			const char *f = s.f[i];
			if (f != s.buf + starts[i]) FAIL("field %zu starts at %td, not %zu", i, f - s.buf, starts[i]);
			if (starts[i] + strlen(f) >= len) FAIL("field %zu runs past the frame", i);
			if (memcmp(f, data + off + HEADER + starts[i], strlen(f) + 1) != 0) FAIL("field %zu is not the sent bytes", i);
		}
		off += HEADER + len;
	}
	free(s.buf);
	close(sv[0]);
	close(sv[1]);
	return 0;
}
