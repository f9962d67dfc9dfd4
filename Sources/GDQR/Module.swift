// GDQR: Scale-Clip and group quantization (in progress)
