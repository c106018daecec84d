"""Official-format TFRecord datasets: writer, tf.data reader, image pyramids."""
