"""The runtimes that load an exported student back, to check it against
`student.keras` (keras_supcrd/app/export.py): TensorFlow for the
SavedModel and the LiteRT interpreter, ONNX Runtime for ONNX. Each takes
the artifact's path and a float32 batch and returns its outputs."""


def saved_model(path, x):
    import tensorflow as tf

    loaded = tf.saved_model.load(path)  # kept: `serve` reads its variables
    return loaded.serve(tf.constant(x)).numpy()


def litert(path, x):
    import tensorflow as tf

    interpreter = tf.lite.Interpreter(model_path=path)
    index = interpreter.get_input_details()[0]["index"]
    interpreter.resize_tensor_input(index, x.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(index, x)
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])


def onnx(path, x):
    import onnxruntime

    session = onnxruntime.InferenceSession(path)
    return session.run(None, {session.get_inputs()[0].name: x})[0]
