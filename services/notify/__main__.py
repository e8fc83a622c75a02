from services.notify.main import DEFINITION, create_app
from services.notify.settings import Settings
from shared.service_main import service_cli

service_cli(DEFINITION, Settings, create_app)()
