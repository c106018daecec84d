"""Official-format TFRecord datasets: writer, checker, tf.data reader, commands."""
