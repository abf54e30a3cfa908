/* The client commands of the control socket (csock_proto.h). Each is a
 * main(): argv[0] is the command name; returns the exit status (0, 1 for
 * a failure, 2 for bad usage). */
#ifndef NF_STATS_CMD_H
#define NF_STATS_CMD_H

/* uml-nf stats UMID [--json] [--watch [SECS]] (stats_cmd.c) */
int nf_stats_main(int argc, char **argv);

/* uml-nf capture UMID vecN [-w FILE] [-c COUNT] [-i rx|tx|both] [-s SNAP]
 * [FILTER] (capture_cmd.c) */
int nf_capture_main(int argc, char **argv);

#endif
