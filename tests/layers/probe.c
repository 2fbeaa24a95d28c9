/* A file that includes PD_PROBE_HEADER, compiled with one layer's include rules. */
#include PD_PROBE_HEADER

int pd_layer_probe(void);
int pd_layer_probe(void)
{
	return 0;
}
