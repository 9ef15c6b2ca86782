"""The models-from-code entry MLflow runs to load a version (`mlflow.pyfunc.log_model(python_model=<this file>)`).

No cloudpickle: MLflow stores this file and executes it at load time; the model's own copy of the
churnops modules it imports travels in the version's `code/` folder.
"""

from mlflow.models import set_model

from churnops.model.churn_model import ChurnModel

set_model(ChurnModel())
