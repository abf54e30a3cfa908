/* A loops_per_jiffy for the guest kernel, measured here in milliseconds so
 * that the guest skips its own calibration.
 *
 * At boot a UML kernel calibrates its delay loop (calibrate_delay) by
 * spinning until timer ticks go by: about 70 ms of CPU per boot here, a
 * third of what an appliance boot costs, all of it spent again by every one
 * of twenty appliances booting at once. Given `lpj=N` it skips that. UML's
 * x86 __delay is a plain dec/jnz loop; lpj_measure runs the same loop,
 * times it, and takes the fastest of a few short runs (a run the scheduler
 * interrupted counts fewer loops per second, never more).
 */
#ifndef NF_LPJ_H
#define NF_LPJ_H

/* loops_per_jiffy for a kernel with CONFIG_HZ=hz on this CPU, or 0 where
 * not measured (hz == 0, an architecture without the x86 loop). Takes
 * about 15 ms. */
unsigned long lpj_measure(unsigned hz);

#endif
