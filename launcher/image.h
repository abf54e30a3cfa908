/* `uml-nf image build PRESET -o FILE [...]`: builds an appliance image with
 * the project's image builder (configs/router/build-image.sh). */
#ifndef NF_IMAGE_H
#define NF_IMAGE_H

/* argv[0] is "image". Runs the builder and returns its exit status; 2 for a
 * usage error (message on stderr). */
int nf_image_main(int argc, char **argv);

#endif
