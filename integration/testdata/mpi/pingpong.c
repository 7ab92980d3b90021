/*
 * pingpong: one-way latency between ranks 0 and 1 of an MPI job.
 *
 * Usage: pingpong [ITERATIONS [BYTES]]
 * Rank 0 prints one line:
 *   pingpong bytes=N iters=N oneway_us=F pids=P0,P1 hosts=H0,H1
 * oneway_us is the minimum over five timed batches of half the mean round
 * trip, which damps the noise of a loaded machine. Any error exits non-zero.
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	int rank, size, iters = 2000, bytes = 8, i, b;
	char *buf;
	double best = 1e30;
	int pid, pids[2];
	char host[64], hosts[2][64];

	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	if (argc > 1)
		iters = atoi(argv[1]);
	if (argc > 2)
		bytes = atoi(argv[2]);
	if (size != 2) {
		if (rank == 0)
			fprintf(stderr, "pingpong: needs exactly 2 ranks, got %d\n", size);
		MPI_Abort(MPI_COMM_WORLD, 2);
	}
	buf = calloc(1, bytes > 0 ? bytes : 1);
	pid = (int)getpid();
	MPI_Gather(&pid, 1, MPI_INT, pids, 1, MPI_INT, 0, MPI_COMM_WORLD);
	memset(host, 0, sizeof host);
	gethostname(host, sizeof host - 1);
	MPI_Gather(host, 64, MPI_CHAR, hosts, 64, MPI_CHAR, 0, MPI_COMM_WORLD);

	/* warm up, then five timed batches */
	for (b = -1; b < 5; b++) {
		int n = b < 0 ? iters / 10 + 1 : iters;
		double t0;
		MPI_Barrier(MPI_COMM_WORLD);
		t0 = MPI_Wtime();
		for (i = 0; i < n; i++) {
			if (rank == 0) {
				MPI_Send(buf, bytes, MPI_CHAR, 1, 0, MPI_COMM_WORLD);
				MPI_Recv(buf, bytes, MPI_CHAR, 1, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
			} else {
				MPI_Recv(buf, bytes, MPI_CHAR, 0, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
				MPI_Send(buf, bytes, MPI_CHAR, 0, 0, MPI_COMM_WORLD);
			}
		}
		if (b >= 0) {
			double us = (MPI_Wtime() - t0) * 1e6 / (2.0 * n);
			if (us < best)
				best = us;
		}
	}
	if (rank == 0)
		printf("pingpong bytes=%d iters=%d oneway_us=%.3f pids=%d,%d hosts=%s,%s\n",
		       bytes, iters, best, pids[0], pids[1], hosts[0], hosts[1]);
	free(buf);
	MPI_Finalize();
	return 0;
}
